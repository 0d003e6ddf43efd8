// Fused scaled dot-product attention, softmax(Q·Kᵀ/√d_k)·V, FlashAttention-2 style: the fast
// version of attention.wgsl for heads of 65 to 128 dimensions (attention_flash.wgsl, which
// holds a whole row per invocation, takes heads of up to 64).
//
// attention.wgsl gives each query row to one invocation, which keeps its whole query and
// output (up to 128 floats each) in arrays indexed by a loop bound only known at run time: a
// GPU compiler generally cannot keep those in registers. Here LANES = 4 invocations share a
// query row. The dimensions go in chunks of 4 (vec4s), dealt out in turn: lane l holds chunks
// l, l + 4, l + 8, ... of its query and output (8 vec4s each at most, in loops of constant
// length that a compiler can unroll into registers), and reads keys and values from workgroup
// memory a vec4 at a time: 4 multiply-adds per read. A workgroup takes a tile of ROWS query
// rows; keys and values stream through workgroup memory KEYS at a time. Per tile, each lane
// scores its chunks against every key, the four partial dot products meet in workgroup
// memory, and each lane folds the full scores into its chunks of the output with the online
// softmax. With `causal`, tiles past the block's last row are never loaded.
//
// Q, K, V and the output are read through strides, so the kernel reads the heads straight
// out of (batch, seq, heads · d) projections and writes the merged heads (no split, no copy).

// Params, the bindings and `offset`: attention_flash_io.wgsl, put in front of this file by
// gpu/mod.rs.

const ROWS: u32 = 64u;               // query rows per workgroup
const LANES: u32 = 4u;               // invocations per query row
const KEYS: u32 = 16u;               // keys per tile in workgroup memory
const MAX_D: u32 = 128u;             // largest d_k and d_v
const CHUNKS: u32 = MAX_D / 4u;      // vec4 chunks in a row of MAX_D
const SLICE: u32 = CHUNKS / LANES;   // chunks per lane

// Rows of MAX_D / 4 vec4s; entries past d_k or d_v stay zero (workgroup memory starts zeroed).
var<workgroup> key_tile: array<vec4<f32>, KEYS * CHUNKS>;    // (KEYS, MAX_D)
var<workgroup> value_tile: array<vec4<f32>, KEYS * CHUNKS>;  // (KEYS, MAX_D)
var<workgroup> partial: array<f32, KEYS * ROWS * LANES>;     // (KEYS, ROWS, LANES) dot products

@compute @workgroup_size(ROWS * LANES)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,     // (tile of query rows, batch·head)
    @builtin(local_invocation_index) id: u32,    // 0..256
) {
    let bh = group.y;
    let local_row = id / LANES;     // row within the tile
    let lane = id % LANES;          // this invocation holds chunks lane, lane + 4, ...
    let row = group.x * ROWS + local_row;
    let in_range = row < params.tgt_len;
    let k_slice = (params.d_k + 4u * LANES - 1u) / (4u * LANES); // chunks per lane in use
    let v_slice = (params.d_v + 4u * LANES - 1u) / (4u * LANES);

    var query: array<vec4<f32>, SLICE>;    // chunk i·LANES + lane of Q[row] / sqrt(d_k); zeros past d_k
    var weighted: array<vec4<f32>, SLICE>; // the same chunks of the running weighted sum of values
    if (in_range) {
        let base = offset(params.q_strides, bh, row);
        for (var i = 0u; i < SLICE; i++) {
            for (var c = 0u; c < 4u; c++) {
                let d = (i * LANES + lane) * 4u + c;
                if (d < params.d_k) { query[i][c] = queries[base + d] * params.scale; }
            }
        }
    }
    var running_max = -3.0e38; // max score so far (no -inf literal in WGSL)
    var running_sum = 0.0;     // sum of exp(score - running_max) so far

    // A causal tile of rows never needs keys past its last row.
    var key_end = params.src_len;
    if (params.causal == 1u) { key_end = min(key_end, min(group.x * ROWS + ROWS, params.tgt_len)); }

    for (var start = 0u; start < key_end; start += KEYS) {
        load_tile(bh, start, id);
        workgroupBarrier(); // keys and values are loaded

        // This lane's share of each score: its chunks of query · key, a vec4 at a time.
        for (var j = 0u; j < KEYS; j++) {
            var share = 0.0;
            for (var i = 0u; i < SLICE; i++) {
                if (i >= k_slice) { break; }
                share += dot(query[i], key_tile[j * CHUNKS + i * LANES + lane]);
            }
            partial[(j * ROWS + local_row) * LANES + lane] = share;
        }
        workgroupBarrier(); // every lane's share is written

        if (in_range) {
            // The full scores (each of the row's lanes adds the same shares in the same order).
            var scores: array<f32, KEYS>;
            var tile_max = running_max;
            for (var j = 0u; j < KEYS; j++) {
                let at = (j * ROWS + local_row) * LANES;
                let score = (partial[at] + partial[at + 1u]) + (partial[at + 2u] + partial[at + 3u]);
                let key = start + j;
                let visible = key < params.src_len && (params.causal == 0u || key <= row);
                scores[j] = select(-3.0e38, score, visible);
                if (visible) { tile_max = max(tile_max, score); }
            }
            // Online softmax: rescale what we have to the new max, then add the tile.
            let rescale = exp(running_max - tile_max);
            running_sum *= rescale;
            for (var i = 0u; i < SLICE; i++) { weighted[i] *= rescale; }
            for (var j = 0u; j < KEYS; j++) {
                let key = start + j;
                let visible = key < params.src_len && (params.causal == 0u || key <= row);
                let p = select(0.0, exp(scores[j] - tile_max), visible);
                running_sum += p;
                for (var i = 0u; i < SLICE; i++) {
                    if (i >= v_slice) { break; }
                    weighted[i] += p * value_tile[j * CHUNKS + i * LANES + lane];
                }
            }
            running_max = tile_max;
        }
        workgroupBarrier(); // everyone is done with the tile before the next overwrites it
    }
    if (in_range) {
        let base = offset(params.o_strides, bh, row);
        for (var i = 0u; i < SLICE; i++) {
            for (var c = 0u; c < 4u; c++) {
                let d = (i * LANES + lane) * 4u + c;
                if (d < params.d_v) { output[base + d] = weighted[i][c] / running_sum; }
            }
        }
    }
}

/// The whole workgroup copies keys start..start + KEYS and their values into workgroup
/// memory; zeros past src_len.
fn load_tile(bh: u32, start: u32, id: u32) {
    let d_k = params.d_k;
    let d_v = params.d_v;
    for (var i = id; i < KEYS * d_k; i += ROWS * LANES) {
        let key = start + i / d_k;
        let d = i % d_k;
        var x = 0.0;
        if (key < params.src_len) { x = keys[offset(params.k_strides, bh, key) + d]; }
        key_tile[(i / d_k) * CHUNKS + d / 4u][d % 4u] = x;
    }
    for (var i = id; i < KEYS * d_v; i += ROWS * LANES) {
        let key = start + i / d_v;
        let d = i % d_v;
        var x = 0.0;
        if (key < params.src_len) { x = values[offset(params.v_strides, bh, key) + d]; }
        value_tile[(i / d_v) * CHUNKS + d / 4u][d % 4u] = x;
    }
}
