//! The vault against real databases (a SQLite file and a fresh PostgreSQL database): the
//! table is created idempotently, values round-trip and are isolated by namespace, concurrent
//! upserts of one key all land, rotation re-encrypts everything or nothing, and a foreign
//! `keystore` table is refused.

use keystore_vault::{Error, MasterKey, Vault};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Db {
    async fn create(postgres: bool) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if postgres {
            Ok(Self::Postgres(
                tasker_store::testing::postgres::create_database().await?,
            ))
        } else {
            Ok(Self::Sqlite(tempfile::tempdir()?))
        }
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("t.db").display()),
            Self::Postgres(url) => url.clone(),
        }
    }
}

fn key(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32])
}

async fn round_trip_and_isolation(postgres: bool) -> TestResult {
    let db = Db::create(postgres).await?;
    let vault = Vault::connect(&db.url()).await?;
    // Connecting again finds the table and keeps it.
    let again = Vault::connect(&db.url()).await?;
    let k = key(1);
    vault.put(&k, "global", "A", b"alpha").await?;
    again.put(&k, "other", "A", b"other-alpha").await?;
    vault.put(&k, "global", "B", b"").await?;
    assert_eq!(
        vault.get(&k, "global", "A").await?.as_deref(),
        Some(&b"alpha"[..])
    );
    assert_eq!(
        vault.get(&k, "other", "A").await?.as_deref(),
        Some(&b"other-alpha"[..])
    );
    assert_eq!(
        vault.get(&k, "global", "B").await?.as_deref(),
        Some(&b""[..])
    );
    assert_eq!(vault.get(&k, "global", "C").await?, None);
    assert_eq!(vault.names("global").await?, ["A", "B"]);
    assert_eq!(vault.namespaces().await?, ["global", "other"]);
    assert!(vault.contains("other", "A").await?);
    assert!(!vault.contains("other", "B").await?);
    vault.put(&k, "global", "A", b"replaced").await?;
    assert_eq!(
        vault.get(&k, "global", "A").await?.as_deref(),
        Some(&b"replaced"[..])
    );
    assert_eq!(vault.count().await?, 3);
    assert!(vault.delete("global", "A").await?);
    assert!(!vault.delete("global", "A").await?);
    assert_eq!(
        vault.get(&k, "other", "A").await?.as_deref(),
        Some(&b"other-alpha"[..])
    );
    let sealed = vault.sealed("other", "A").await?.ok_or("row")?;
    assert_eq!(sealed.kid, k.kid());
    assert!(!sealed.ciphertext.windows(5).any(|w| w == b"alpha"));
    Ok(())
}

async fn concurrent_upserts_all_land(postgres: bool) -> TestResult {
    let db = Db::create(postgres).await?;
    let vault = Vault::connect(&db.url()).await?;
    let k = key(2);
    let mut writers = Vec::new();
    for i in 0..24u32 {
        let vault = vault.clone();
        let k = k.clone();
        writers.push(tokio::spawn(async move {
            vault
                .put(&k, "c", &format!("OWN_{i}"), format!("v{i}").as_bytes())
                .await?;
            vault
                .put(&k, "c", "SHARED", format!("s{i}").as_bytes())
                .await
        }));
    }
    for writer in writers {
        writer.await??;
    }
    assert_eq!(vault.names("c").await?.len(), 25);
    for i in 0..24u32 {
        let value = vault.get(&k, "c", &format!("OWN_{i}")).await?;
        assert_eq!(value, Some(format!("v{i}").into_bytes()));
    }
    let shared = String::from_utf8(vault.get(&k, "c", "SHARED").await?.ok_or("shared")?)?;
    assert!(shared.starts_with('s'), "{shared}");
    Ok(())
}

async fn rotation_is_all_or_nothing(postgres: bool) -> TestResult {
    let db = Db::create(postgres).await?;
    let vault = Vault::connect(&db.url()).await?;
    let (old, new, third) = (key(3), key(4), key(5));
    vault.put(&old, "global", "A", b"a").await?;
    vault.put(&old, "n", "B", b"b").await?;
    vault.put(&new, "global", "ALREADY_NEW", b"c").await?;
    let outcome = vault.rotate(&old, &new).await?;
    assert_eq!((outcome.rotated, outcome.already_current), (2, 1));
    assert_eq!(outcome.new_kid, new.kid());
    assert_eq!(vault.get(&new, "n", "B").await?.as_deref(), Some(&b"b"[..]));
    assert_eq!(
        vault.get(&new, "global", "ALREADY_NEW").await?.as_deref(),
        Some(&b"c"[..])
    );
    assert!(matches!(
        vault.get(&old, "global", "A").await,
        Err(Error::KeyMismatch { .. })
    ));
    assert_eq!(vault.count_sealed_with_other_keys(&new).await?, 0);

    // A value of a third key aborts the rotation and leaves every row as it was.
    vault.put(&third, "global", "STRAY", b"s").await?;
    let before = vault.sealed("global", "A").await?;
    let err = vault.rotate(&new, &old).await.unwrap_err();
    assert!(
        matches!(err, Error::UnknownKeyIds { count: 1, .. }),
        "{err}"
    );
    assert_eq!(vault.sealed("global", "A").await?, before);
    assert_eq!(
        vault.get(&new, "global", "A").await?.as_deref(),
        Some(&b"a"[..])
    );
    Ok(())
}

async fn foreign_table_is_refused(postgres: bool) -> TestResult {
    let db = Db::create(postgres).await?;
    {
        // The original's layout: `key_name` / `key_value`.
        sqlx::any::install_default_drivers();
        let url = match &db {
            Db::Sqlite(_) => format!("{}?mode=rwc", db.url()),
            Db::Postgres(url) => url.clone(),
        };
        let pool = sqlx::AnyPool::connect(&url).await?;
        sqlx::query("CREATE TABLE keystore (id INTEGER, key_name TEXT, key_value TEXT)")
            .execute(&pool)
            .await?;
        pool.close().await;
    }
    let err = Vault::connect(&db.url()).await.unwrap_err();
    assert!(matches!(err, Error::ForeignTable { .. }), "{err}");
    assert!(err.to_string().contains("expected columns"), "{err}");
    Ok(())
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() -> super::TestResult { super::$name(false).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() -> super::TestResult { super::$name(true).await })*
        }
    };
}

on_both_backends!(
    round_trip_and_isolation,
    concurrent_upserts_all_land,
    rotation_is_all_or_nothing,
    foreign_table_is_refused,
);
