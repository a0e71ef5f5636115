//! Logs. In Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`, set by the template's logging config) every
//! line is one JSON object with `timestamp`, `level`, `message` and every field at top level,
//! the fields of the request's span included, so CloudWatch Logs Insights can filter any line
//! by `request_id`, `tenant` or `route` without parsing. Elsewhere lines are readable text.
//!
//! The level follows `lambda_runtime`'s own rule: `AWS_LAMBDA_LOG_LEVEL` when set (the
//! template's `ApplicationLogLevel`), else `RUST_LOG` (local runs), else `info`.

use std::fmt;

use serde_json::{Map, Value};
use tracing::{
    field::{Field, Visit},
    Event, Subscriber,
};
use tracing_subscriber::{
    fmt::{
        format::{JsonFields, Writer},
        FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter,
    },
    registry::LookupSpan,
    EnvFilter,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub json: bool,
    pub level: String,
}

impl LogSettings {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let format = lookup("AWS_LAMBDA_LOG_FORMAT").or_else(|| lookup("LOG_FORMAT"));
        let level = lookup("AWS_LAMBDA_LOG_LEVEL")
            .map(|l| l.to_lowercase())
            .or_else(|| lookup("RUST_LOG"))
            .unwrap_or_else(|| "info".to_owned());
        LogSettings {
            json: format.is_some_and(|f| f.eq_ignore_ascii_case("json")),
            level,
        }
    }
}

/// Installs the process-wide subscriber (a second call does nothing).
pub fn init() {
    let _ = tracing::subscriber::set_global_default(subscriber(&LogSettings::from_env(), std::io::stdout));
}

/// A subscriber writing to `writer` as `settings` say; tests capture lines with it.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::new(&settings.level);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    if settings.json {
        Box::new(
            builder
                .fmt_fields(JsonFields::new())
                .event_format(FlatJson)
                .finish(),
        )
    } else {
        Box::new(builder.finish())
    }
}

/// One JSON object per event: the fields of its spans (outermost first, so inner ones win),
/// then its own.
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(crate::time::format(&crate::time::now())),
        );
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().as_str().to_owned()),
        );
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_settings_win_over_rust_log() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            LogSettings::from_lookup(move |name| {
                vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
            })
        };
        assert_eq!(
            env(&[
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
                ("RUST_LOG", "debug")
            ]),
            LogSettings {
                json: true,
                level: "warn".into()
            }
        );
        assert_eq!(
            env(&[("AWS_LAMBDA_LOG_FORMAT", "Text"), ("RUST_LOG", "debug")]),
            LogSettings {
                json: false,
                level: "debug".into()
            }
        );
        assert_eq!(
            env(&[]),
            LogSettings {
                json: false,
                level: "info".into()
            }
        );
    }
}
