//! Master-key rotation: every value sealed under the old key is opened and sealed again under
//! the new key inside one transaction that also keeps other writers out, so a failure (a
//! value that does not decrypt, a value of an unknown key) leaves the table as it was.

use std::collections::BTreeSet;

use sqlx::Row;

use crate::table::now_ms;
use crate::{Backend, Error, MasterKey, Result, Sealed, Vault, open, seal};

const SELECT_ALL: &str = "SELECT namespace, name, ciphertext, nonce, kid FROM keystore";
const UPDATE_ONE: &str =
    "UPDATE keystore SET ciphertext = $1, nonce = $2, kid = $3, updated_at = $4
    WHERE namespace = $5 AND name = $6";
/// Readers go on; writers (a running host's setKey) wait until the rotation commits.
const LOCK_POSTGRES: &str = "LOCK TABLE keystore IN SHARE ROW EXCLUSIVE MODE";

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationOutcome {
    /// Values re-encrypted from the old key to the new one.
    pub rotated: u64,
    /// Values that were already sealed under the new key (left as they were).
    pub already_current: u64,
    /// Key id of the old key.
    pub old_kid: String,
    /// Key id of the new key.
    pub new_kid: String,
}

struct StoredRow {
    namespace: String,
    name: String,
    sealed: Sealed,
}

fn step(step: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Query { step, source }
}

impl Vault {
    /// Re-encrypts every value from `old` to `new` in one transaction. Values already under
    /// `new` are skipped; a value under any third key aborts the rotation, changing nothing.
    pub async fn rotate(&self, old: &MasterKey, new: &MasterKey) -> Result<RotationOutcome> {
        let mut tx = match self.backend() {
            // Takes SQLite's write lock up front: the read below cannot go stale.
            Backend::Sqlite => self.pool().begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool().begin().await,
        }
        .map_err(step("starting the rotation transaction"))?;
        if self.backend() == Backend::Postgres {
            sqlx::query(LOCK_POSTGRES)
                .execute(&mut *tx)
                .await
                .map_err(step("locking the keystore table"))?;
        }
        let rows = sqlx::query(SELECT_ALL)
            .fetch_all(&mut *tx)
            .await
            .map_err(step("reading every value"))?
            .into_iter()
            .map(|row| {
                Ok(StoredRow {
                    namespace: row.try_get(0)?,
                    name: row.try_get(1)?,
                    sealed: Sealed {
                        ciphertext: row.try_get(2)?,
                        nonce: row.try_get(3)?,
                        kid: row.try_get(4)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(step("decoding a stored value"))?;

        let unknown: Vec<&StoredRow> = rows
            .iter()
            .filter(|r| r.sealed.kid != old.kid() && r.sealed.kid != new.kid())
            .collect();
        if !unknown.is_empty() {
            let kids: BTreeSet<&str> = unknown.iter().map(|r| r.sealed.kid.as_str()).collect();
            return Err(Error::UnknownKeyIds {
                count: unknown.len() as u64,
                kids: kids.into_iter().collect::<Vec<_>>().join(", "),
                old_kid: old.kid().to_owned(),
                new_kid: new.kid().to_owned(),
            });
        }

        let mut outcome = RotationOutcome {
            rotated: 0,
            already_current: 0,
            old_kid: old.kid().to_owned(),
            new_kid: new.kid().to_owned(),
        };
        let now = now_ms();
        for row in rows {
            if row.sealed.kid == new.kid() {
                outcome.already_current += 1;
                continue;
            }
            let plaintext = open(old, &row.namespace, &row.name, &row.sealed)?;
            let resealed = seal(new, &row.namespace, &row.name, &plaintext)?;
            sqlx::query(UPDATE_ONE)
                .bind(resealed.ciphertext)
                .bind(resealed.nonce)
                .bind(resealed.kid)
                .bind(now)
                .bind(row.namespace)
                .bind(row.name)
                .execute(&mut *tx)
                .await
                .map_err(step("re-encrypting a value"))?;
            outcome.rotated += 1;
        }
        tx.commit().await.map_err(step("committing the rotation"))?;
        Ok(outcome)
    }
}
