//! Leases: at most one run of an entry at a time, across every scheduler on one warehouse.
//!
//! A lease is a chain of generations, `_glaux/schedule/<entry>/lease/<generation>.json`, each
//! written with a create-only put — the one primitive both a local directory and S3 give
//! atomically, and the one table commits already rely on. The highest generation is the lease:
//! a holder and an expiry. A scheduler takes the lease by creating the next generation, which
//! it may do only when the current one is released or expired; the holder renews it by
//! creating the next generation itself, and releases it the same way. Two schedulers that race
//! for one generation cannot both create it, so exactly one wins; a holder whose renewal finds
//! the generation taken has lost the lease. A holder that cannot renew stops its run before its
//! lease expires ([`Lease::must_stop_by`]), so a crashed or partitioned holder's run never
//! overlaps its successor's. Expiry is judged by the clocks of the hosts, which must agree to
//! within [`CLOCK_MARGIN`] (any NTP-synchronised hosts do).

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::warehouse::Warehouse;

/// How far two hosts' clocks may disagree; a lease counts as expired only this long after its
/// expiry.
pub const CLOCK_MARGIN: chrono::Duration = chrono::Duration::seconds(2);

/// Who holds a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The scheduler process's id (UUIDv7).
    pub scheduler_id: String,
    /// Its host.
    pub host: String,
    /// Its process id.
    pub pid: u32,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} pid {} (scheduler {})", self.host, self.pid, self.scheduler_id)
    }
}

/// One generation of a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// Its number.
    pub generation: u64,
    /// Who holds it.
    pub holder: Holder,
    /// When this generation was written.
    pub written_at: DateTime<Utc>,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Whether the holder gave it up.
    pub released: bool,
}

impl Generation {
    /// Whether another scheduler may take the lease at `now`.
    pub fn is_free(&self, now: DateTime<Utc>) -> bool {
        self.released || self.expires_at + CLOCK_MARGIN < now
    }
}

/// Why a lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The store failed.
    #[error("lease {path}: {source}")]
    Store {
        /// the object
        path: String,
        /// what the store said
        source: object_store::Error,
    },
    /// A lease object is not what glaux wrote.
    #[error("lease {path} is corrupt: {reason}; remove the entry's lease/ directory when no scheduler runs it")]
    Corrupt {
        /// the object
        path: String,
        /// what is wrong
        reason: String,
    },
}

impl crate::error::Categorize for LeaseError {
    fn category(&self) -> crate::error::Category {
        match self {
            LeaseError::Store { .. } => crate::error::Category::Io,
            LeaseError::Corrupt { .. } => crate::error::Category::Data,
        }
    }
}

/// A held lease.
#[derive(Debug, Clone)]
pub struct Lease {
    entry: String,
    current: Generation,
    duration: chrono::Duration,
}

/// The outcome of trying to take a lease.
#[derive(Debug)]
pub enum Acquired {
    /// Taken.
    Held(Lease),
    /// Another scheduler holds it.
    Busy(Generation),
}

fn dir(entry: &str) -> String {
    format!("schedule/{entry}/lease")
}

fn generation_path(warehouse: &Warehouse, entry: &str, generation: u64) -> object_store::path::Path {
    warehouse.state_path(&format!("{}/{generation:020}.json", dir(entry)))
}

/// The current generation of `entry`'s lease, if it was ever taken.
pub async fn current(warehouse: &Warehouse, entry: &str) -> Result<Option<Generation>, LeaseError> {
    // A generation can be deleted (as superseded) between the listing and the read; list again.
    for _ in 0..5 {
        let prefix = warehouse.state_path(&dir(entry));
        let objects: Vec<_> = warehouse
            .store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| LeaseError::Store { path: prefix.to_string(), source })?;
        let newest =
            objects.iter().filter_map(|o| o.location.filename()?.strip_suffix(".json")?.parse::<u64>().ok()).max();
        let Some(newest) = newest else { return Ok(None) };
        let path = generation_path(warehouse, entry, newest);
        let read = crate::warehouse::get_optional(warehouse.store().as_ref(), &path)
            .await
            .map_err(|source| LeaseError::Store { path: path.to_string(), source })?;
        if let Some(bytes) = read {
            let generation = serde_json::from_slice(&bytes)
                .map_err(|e| LeaseError::Corrupt { path: path.to_string(), reason: e.to_string() })?;
            return Ok(Some(generation));
        }
    }
    Ok(None)
}

/// Writes generation `next`; `false` when another scheduler wrote it first.
async fn create(warehouse: &Warehouse, entry: &str, next: &Generation) -> Result<bool, LeaseError> {
    let path = generation_path(warehouse, entry, next.generation);
    let body = serde_json::to_vec_pretty(next).expect("leases serialise");
    crate::warehouse::put_if_absent(warehouse.store().as_ref(), &path, body)
        .await
        .map_err(|source| LeaseError::Store { path: path.to_string(), source })
}

/// Removes generations before `keep` (best effort: they are superseded either way).
async fn prune(warehouse: &Warehouse, entry: &str, keep: u64) {
    if keep == 0 {
        return;
    }
    let path = generation_path(warehouse, entry, keep - 1);
    if let Err(error) = warehouse.store().delete(&path).await
        && !matches!(error, object_store::Error::NotFound { .. })
    {
        tracing::debug!(%path, %error, "could not remove a superseded lease generation");
    }
}

/// Takes `entry`'s lease for `holder` when it is free.
pub async fn acquire(
    warehouse: &Warehouse,
    entry: &str,
    holder: &Holder,
    duration: chrono::Duration,
) -> Result<Acquired, LeaseError> {
    let now = Utc::now();
    let current = current(warehouse, entry).await?;
    if let Some(current) = &current
        && !current.is_free(now)
        && current.holder != *holder
    {
        return Ok(Acquired::Busy(current.clone()));
    }
    let number = current.as_ref().map_or(1, |c| c.generation + 1);
    let next = Generation {
        generation: number,
        holder: holder.clone(),
        written_at: now,
        expires_at: now + duration,
        released: false,
    };
    if !create(warehouse, entry, &next).await? {
        let taken = self::current(warehouse, entry).await?.unwrap_or(next);
        return Ok(Acquired::Busy(taken));
    }
    prune(warehouse, entry, number).await;
    Ok(Acquired::Held(Lease { entry: entry.to_string(), current: next, duration }))
}

impl Lease {
    /// The generation held.
    pub fn generation(&self) -> &Generation {
        &self.current
    }

    /// When the holder must have stopped its run if it cannot renew: a little before the lease
    /// can be taken by another.
    pub fn must_stop_by(&self) -> DateTime<Utc> {
        self.current.expires_at - CLOCK_MARGIN
    }

    /// Extends the lease. `Ok(false)` means it was lost: another scheduler took it.
    pub async fn renew(&mut self, warehouse: &Warehouse) -> Result<bool, LeaseError> {
        let now = Utc::now();
        let next = Generation {
            generation: self.current.generation + 1,
            holder: self.current.holder.clone(),
            written_at: now,
            expires_at: now + self.duration,
            released: false,
        };
        if !create(warehouse, &self.entry, &next).await? {
            return Ok(false);
        }
        prune(warehouse, &self.entry, next.generation).await;
        self.current = next;
        Ok(true)
    }

    /// Gives the lease up so another scheduler need not wait for it to expire.
    pub async fn release(self, warehouse: &Warehouse) -> Result<(), LeaseError> {
        let now = Utc::now();
        let next = Generation {
            generation: self.current.generation + 1,
            holder: self.current.holder.clone(),
            written_at: now,
            expires_at: now,
            released: true,
        };
        if create(warehouse, &self.entry, &next).await? {
            prune(warehouse, &self.entry, next.generation).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(name: &str) -> Holder {
        Holder { scheduler_id: name.into(), host: "h".into(), pid: 1 }
    }

    #[tokio::test]
    async fn one_holder_at_a_time_until_release_or_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open_local(dir.path()).unwrap();
        let (a, b) = (holder("a"), holder("b"));
        let minute = chrono::Duration::seconds(60);
        let Acquired::Held(mut lease) = acquire(&wh, "e", &a, minute).await.unwrap() else { panic!("free lease") };
        assert!(matches!(acquire(&wh, "e", &b, minute).await.unwrap(), Acquired::Busy(g) if g.holder == a));
        assert!(lease.renew(&wh).await.unwrap());
        assert_eq!(lease.generation().generation, 2);
        lease.release(&wh).await.unwrap();
        let Acquired::Held(lease) = acquire(&wh, "e", &b, chrono::Duration::zero()).await.unwrap() else {
            panic!("released lease")
        };
        // b's lease expired at once: after the clock margin a takes it, and b's renewal fails.
        tokio::time::sleep((CLOCK_MARGIN + chrono::Duration::milliseconds(100)).to_std().unwrap()).await;
        assert!(matches!(acquire(&wh, "e", &a, minute).await.unwrap(), Acquired::Held(_)));
        let mut stale = lease;
        assert!(!stale.renew(&wh).await.unwrap(), "a lost lease cannot be renewed");
        // Superseded generations are removed.
        let left = std::fs::read_dir(dir.path().join("_glaux/schedule/e/lease")).unwrap().count();
        assert!(left <= 2, "{left} generations left");
    }
}
