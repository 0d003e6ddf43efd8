//! How much the KV cache saves: the time to generate one token at context n = 64 … 1024,
//! with the cache (one new position through the model) and without (all n positions again),
//! for chapter 10's model shape (4 layers, 4 heads, n_embd 128) with a 1024-token context.
//!
//! ```text
//! cargo run --release --example kv_cache_speed            # a table
//! cargo run --release --example kv_cache_speed -- --json  # the table as JSON (bench-gpt)
//! ```

use std::time::Instant;

use attention::gpt::{Gpt, GptConfig, kv_cache_bytes};
use attention::ndarray::{Array2, arr2};
use attention::params::Params;

/// Median seconds of `runs` calls of `f`.
fn median_seconds(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn main() -> attention::Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let config = GptConfig {
        vocab_size: 73,
        block_size: 1024,
        n_layer: 4,
        n_head: 4,
        n_embd: 128,
    };
    let gpt = Gpt::from_params(&Params::seeded(0), config)?;
    let mut rows = Vec::new();
    for n in [64, 128, 256, 512, 1024] {
        let ids = Array2::from_shape_fn((1, n), |(_, t)| (t * 7) % 73); // (1, n)
        // Without the cache: the whole context runs to get the last position's logits.
        let uncached = median_seconds(5, || {
            gpt.forward(&ids).expect("n ≤ block_size");
        });
        // With it: n − 1 positions are cached, one new position runs.
        let mut caches = gpt.new_caches(1);
        gpt.forward_cached(&ids.slice(attention::ndarray::s![.., ..n - 1]), &mut caches)?;
        let cached = median_seconds(21, || {
            gpt.forward_cached(&arr2(&[[5]]), &mut caches)
                .expect("room for one");
            caches.iter_mut().for_each(|c| c.truncate(n - 1)); // back to n − 1 cached
        });
        let bytes = kv_cache_bytes(
            config.n_layer,
            config.n_head,
            config.n_embd / config.n_head,
            n,
            1,
        );
        rows.push((n, 1.0 / uncached, 1.0 / cached, bytes));
    }
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(n, u, c, b)| serde_json::json!({"context": n, "uncached_tokens_per_s": u, "cached_tokens_per_s": c, "cache_bytes": b}))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "model": "n_layer 4, n_head 4, n_embd 128, block_size 1024", "rows": rows })
        );
    } else {
        println!(
            "{:>8} {:>16} {:>16} {:>8} {:>12}",
            "context", "uncached tok/s", "cached tok/s", "speed-up", "cache bytes"
        );
        for (n, u, c, b) in rows {
            println!("{n:>8} {u:>16.1} {c:>16.1} {:>7.1}× {b:>12}", c / u);
        }
    }
    Ok(())
}
