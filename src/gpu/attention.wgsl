// Fused scaled dot-product attention, softmax(Q·Kᵀ/√d_k)·V, for every (batch item, head).
//
// FlashAttention on a GPU in its simplest form: one invocation per query row, ROWS rows per
// workgroup. The workgroup streams the keys and values through workgroup memory KEY_TILE at a
// time; each invocation scores its query against the tile, then folds the tile into a running
// max, a running sum and a running weighted sum of values (the online softmax of chapter 8).
// The (tgt_len × src_len) scores never exist anywhere, and each key is read from GPU memory
// once per workgroup instead of once per query.

struct Params {
    tgt_len: u32,
    src_len: u32,
    d_k: u32,
    d_v: u32,
    scale: f32,   // 1 / sqrt(d_k)
    causal: u32,  // 1: query i sees keys 0..=i
    _padding: vec2<u32>,
}

@group(0) @binding(0) var<storage, read> queries: array<f32>;      // (batch·heads, tgt_len, d_k)
@group(0) @binding(1) var<storage, read> keys: array<f32>;         // (batch·heads, src_len, d_k)
@group(0) @binding(2) var<storage, read> values: array<f32>;       // (batch·heads, src_len, d_v)
@group(0) @binding(3) var<storage, read_write> output: array<f32>; // (batch·heads, tgt_len, d_v)
@group(0) @binding(4) var<uniform> params: Params;

const ROWS: u32 = 64u;      // query rows per workgroup, one per invocation
const KEY_TILE: u32 = 16u;  // keys per tile in workgroup memory
const MAX_D: u32 = 128u;    // largest d_k and d_v (per-invocation arrays have a fixed size)

var<workgroup> key_tile: array<f32, KEY_TILE * MAX_D>;   // (KEY_TILE, MAX_D)
var<workgroup> value_tile: array<f32, KEY_TILE * MAX_D>; // (KEY_TILE, MAX_D)

// ANCHOR: fused_attention
@compute @workgroup_size(ROWS)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,          // (block of query rows, batch·head)
    @builtin(local_invocation_index) lane: u32,       // row within the block
) {
    let head = group.y;
    let row = group.x * ROWS + lane;
    let in_range = row < params.tgt_len; // the last block may hang over the end
    let d_k = params.d_k;
    let d_v = params.d_v;

    var query: array<f32, MAX_D>; // this row's query, scaled by 1/sqrt(d_k) once
    if (in_range) {
        let base = (head * params.tgt_len + row) * d_k;
        for (var d = 0u; d < d_k; d++) { query[d] = queries[base + d] * params.scale; }
    }
    var running_max = -3.0e38;       // max score so far (no -inf literal in WGSL)
    var running_sum = 0.0;           // sum of exp(score - running_max) so far
    var weighted: array<f32, MAX_D>; // sum of exp(score - running_max) · value so far (zeros)

    // A causal block never needs keys past its last row.
    var key_end = params.src_len;
    if (params.causal == 1u) { key_end = min(key_end, min(group.x * ROWS + ROWS, params.tgt_len)); }

    for (var start = 0u; start < key_end; start += KEY_TILE) {
        // The whole workgroup copies KEY_TILE keys and values into workgroup memory.
        for (var i = lane; i < KEY_TILE * d_k; i += ROWS) {
            let key = start + i / d_k;
            var x = 0.0;
            if (key < params.src_len) { x = keys[(head * params.src_len + key) * d_k + i % d_k]; }
            key_tile[(i / d_k) * MAX_D + i % d_k] = x;
        }
        for (var i = lane; i < KEY_TILE * d_v; i += ROWS) {
            let key = start + i / d_v;
            var x = 0.0;
            if (key < params.src_len) { x = values[(head * params.src_len + key) * d_v + i % d_v]; }
            value_tile[(i / d_v) * MAX_D + i % d_v] = x;
        }
        workgroupBarrier(); // the tile is loaded

        if (in_range) {
            // Scores of this row against the tile, and the tile's max.
            var scores: array<f32, KEY_TILE>;
            var tile_max = running_max;
            for (var j = 0u; j < KEY_TILE; j++) {
                let key = start + j;
                let visible = key < params.src_len && (params.causal == 0u || key <= row);
                var score = 0.0;
                for (var d = 0u; d < d_k; d++) { score += query[d] * key_tile[j * MAX_D + d]; }
                scores[j] = select(-3.0e38, score, visible);
                if (visible) { tile_max = max(tile_max, score); }
            }
            // Online softmax: rescale what we have to the new max, then add the tile.
            let rescale = exp(running_max - tile_max);
            running_sum *= rescale;
            for (var d = 0u; d < d_v; d++) { weighted[d] *= rescale; }
            for (var j = 0u; j < KEY_TILE; j++) {
                let key = start + j;
                let visible = key < params.src_len && (params.causal == 0u || key <= row);
                let p = select(0.0, exp(scores[j] - tile_max), visible);
                running_sum += p;
                for (var d = 0u; d < d_v; d++) { weighted[d] += p * value_tile[j * MAX_D + d]; }
            }
            running_max = tile_max;
        }
        workgroupBarrier(); // everyone is done with the tile before the next overwrites it
    }
    if (in_range) {
        let base = (head * params.tgt_len + row) * d_v;
        for (var d = 0u; d < d_v; d++) { output[base + d] = weighted[d] / running_sum; }
    }
}
// ANCHOR_END: fused_attention
