//! The HTTPS client for every AWS call: rustls on aws-lc (the crypto the SDK and the JWT check
//! already link), trusting Mozilla's root certificates compiled into the binary
//! (`webpki-root-certs`) instead of the system store, which the SDK would otherwise read from
//! disk (about 150 files under `/etc/ssl/certs`) at every cold start. The roots include Amazon
//! Root CA 1-4 and Starfield's, which AWS endpoints chain to (checked below). `TLS_ROOTS=system`
//! goes back to the system store, should a deployment need a private CA.

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::{
    tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore},
    Builder,
};
use base64::{engine::general_purpose::STANDARD, Engine};

/// Which root certificates TLS connections trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// Mozilla's, compiled in.
    Bundled,
    /// The system's, read at start-up.
    System,
}

impl Roots {
    pub fn from_env() -> Self {
        match std::env::var("TLS_ROOTS").as_deref() {
            Ok("system") => Roots::System,
            _ => Roots::Bundled,
        }
    }
}

/// The bundled roots as one PEM document, the form the SDK's trust store takes.
fn bundled_pem() -> String {
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = STANDARD.encode(cert.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

pub fn client(roots: Roots) -> SharedHttpClient {
    let trust = match roots {
        Roots::Bundled => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(bundled_pem()),
        Roots::System => TrustStore::default(),
    };
    let builder = Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(error) => {
            tracing::warn!(%error, "bundled roots refused; using the system store");
            builder.build_https()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_holds_the_roots_aws_endpoints_chain_to() {
        let pem = bundled_pem();
        let count = pem.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(count, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(count > 100, "{count}");
        // Subjects as they appear in the DER (PrintableString/UTF8String bytes).
        let ders: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref())
            .collect();
        for subject in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(
                ders.iter()
                    .any(|der| der.windows(subject.len()).any(|w| w == subject.as_bytes())),
                "{subject} is missing from the bundled roots"
            );
        }
        // Every block decodes back to the DER it came from.
        let first = pem.split("-----END CERTIFICATE-----").next().unwrap();
        let body: String = first.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(STANDARD.decode(body).unwrap(), ders[0]);
    }
}
