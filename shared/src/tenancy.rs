//! The tenant gate: finds or creates the caller's tenant and lets only active ones through,
//! with a short per-container cache.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    store::{Read, Store},
    tenants::{Tenant, TenantStatus},
    time,
};

/// Finds or creates the caller's tenant and applies the status gate, with a short per-container
/// cache. A status change made elsewhere is seen here within `ttl` (default 5 s); changes made
/// through this container are seen at once because they evict the entry.
pub struct TenantDirectory {
    ttl: Duration,
    cache: Mutex<HashMap<String, (Tenant, Instant)>>,
}

const CACHE_CAPACITY: usize = 1024;

impl TenantDirectory {
    pub fn new(ttl: Duration) -> Self {
        TenantDirectory {
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The caller's tenant, created on first sight; 403 `tenant_inactive` unless it is active.
    pub async fn resolve_active(&self, store: &Store, tenant_id: &str) -> Result<Tenant> {
        let tenant = self.resolve(store, tenant_id).await?;
        if tenant.status != TenantStatus::Active {
            return Err(Error::TenantInactive);
        }
        Ok(tenant)
    }

    pub async fn resolve(&self, store: &Store, tenant_id: &str) -> Result<Tenant> {
        if let Some(tenant) = self.cached(tenant_id) {
            return Ok(tenant);
        }
        let tenant = match store.get_tenant(tenant_id, Read::Eventual).await? {
            Some(tenant) => tenant,
            None => {
                let fresh = Tenant::first_seen(tenant_id, time::now());
                match store.create_tenant(&fresh).await? {
                    Some(created) => {
                        tracing::info!(tenant_id, "tenant provisioned just in time");
                        created
                    }
                    // A concurrent first request created it; read the winner's record.
                    None => store.get_tenant(tenant_id, Read::Strong).await?.ok_or_else(|| {
                        tracing::error!(tenant_id, "tenant vanished right after a lost create race");
                        Error::Internal
                    })?,
                }
            }
        };
        self.remember(&tenant);
        Ok(tenant)
    }

    pub fn forget(&self, tenant_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(tenant_id);
        }
    }

    pub fn remember(&self, tenant: &Tenant) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(tenant.id.clone(), (tenant.clone(), Instant::now()));
        }
    }

    fn cached(&self, tenant_id: &str) -> Option<Tenant> {
        let cache = self.cache.lock().ok()?;
        let (tenant, at) = cache.get(tenant_id)?;
        (at.elapsed() < self.ttl).then(|| tenant.clone())
    }
}
