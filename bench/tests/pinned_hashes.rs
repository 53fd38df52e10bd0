//! The simulator's results, pinned. The default campaign at 3 seeds is run
//! into a fresh dataset and every result table hashed (`bench hash`); the
//! hashes below are what the simulator gives today. A change that alters
//! any simulated row fails here, so that it is made on purpose: update the
//! hashes in the same commit and say in its message what changed and why.
//! A change meant to alter nothing (a faster simulator, a refactor) must
//! leave them as they are.
#![allow(clippy::unwrap_used)]

use bench::store::Store;

/// (table, rows, SHA-256) as `bench hash` prints them.
const PINNED: &[(&str, u64, &str)] = &[
    (
        "arms",
        2,
        "23ba48e8f81eb59e25e39d4db3744997b9d07fc346e1f92f8542072e4f4ebd31",
    ),
    (
        "campaigns",
        1,
        "401503da7d8b05f854d72518fe981f20caf961df61c2791c6ffd697b976c0fdf",
    ),
    (
        "decisions",
        648,
        "cfeb3948c90fe7539a95ca58a9a263829c8bc868f6e5587cdc9d3e658c17b470",
    ),
    (
        "gpu_samples",
        11340,
        "94c52e4975ce05434318df3280d7384d46a10bb97e237a92a4bbc438b2ee142b",
    ),
    (
        "pod_samples",
        16098,
        "cfce1fffeb994e81a523efba19af871d181d950827574cd137990a3f0dc53a46",
    ),
    (
        "pods",
        223,
        "b5884f6951f92f3df222077b2ff20fb82a052d04b00a3b4107b4df2085d08985",
    ),
    (
        "requests",
        13427,
        "ddfc5ea30586c6deb76bb177dd603bf575aa65cec829e82f8ec2c92fd51323dd",
    ),
    (
        "samples",
        3240,
        "2cb22354742cb98853a964eb1dd07f3e9891f79666f8875c8ee8cad80b446eae",
    ),
    (
        "scaling_events",
        85,
        "40684d9125f6e98195c8807edbec853cce5c02b413e2c4cb1c6b81d528210425",
    ),
    (
        "trial_aborts",
        0,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (
        "trial_clocks",
        108,
        "072914a7944bd3e1ba09859be6fece9c481c248ab375b89bac8615f1fdd49a26",
    ),
    (
        "trial_signals",
        72,
        "dc7ccfa0aa7c7cf43a1cd7ca68f81aa4eca80fe3c647a6f70352072101bdb7ec",
    ),
    (
        "trials",
        36,
        "5855b4d9febf5d88f82b65d061f55a1014b3bca4beae653516633755a6e461a9",
    ),
];

#[test]
fn simulated_tables_are_the_pinned_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let db = testkit::default_dataset(tmp.path(), 3);
    let got = testkit::block_on(async {
        let mut store = Store::open_read_only(&db).await.unwrap();
        store.table_hashes().await.unwrap()
    });
    let got: Vec<(String, u64, String)> = got
        .into_iter()
        .map(|h| (h.table, h.rows, h.sha256))
        .collect();
    let want: Vec<(String, u64, String)> = PINNED
        .iter()
        .map(|(t, n, h)| (t.to_string(), *n, h.to_string()))
        .collect();
    if got != want {
        let table: Vec<String> = got
            .iter()
            .map(|(t, n, h)| format!("    (\"{t}\", {n}, \"{h}\"),"))
            .collect();
        panic!(
            "the simulated tables changed. If that is meant, pin the new hashes (and say why in the commit):\n{}",
            table.join("\n")
        );
    }
}
