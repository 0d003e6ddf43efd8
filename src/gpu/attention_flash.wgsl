// Fused scaled dot-product attention, softmax(Q·Kᵀ/√d_k)·V, FlashAttention-2 style, for heads
// of up to 64 dimensions (d_k, d_v ≤ 64): the fast version of attention.wgsl.
// attention_flash_wide.wgsl takes heads of 65 to 128.
//
// Each invocation holds one query row, all of it, and the output row it accumulates, in
// registers: 16 vec4s each, in loops of constant length that a compiler unrolls. A score is
// then a whole dot product computed by one invocation, and the online softmax needs no
// exchange between invocations. Four invocations (LANES) share a row: they split the keys,
// not the dimensions. Lane l takes keys l, l + 4, l + 8, ... of every tile and keeps its own
// running max, sum and weighted sum of values; the four meet once, at the end, in workgroup
// memory. A workgroup takes ROWS = 32 query rows (128 invocations); keys and values stream
// through workgroup memory KEYS = 32 at a time, each invocation scoring 8 of them against its
// row: every key read (a vec4, 4 multiply-adds) is shared by the 8 rows of a warp that read the
// same key at the same time. With `causal`, tiles past the workgroup's last row are never
// loaded.
//
// Q, K, V and the output are read through strides, so the kernel reads the heads straight
// out of (batch, seq, heads · d) projections and writes the merged heads (no split, no copy).

// Params, the bindings and `offset`: attention_flash_io.wgsl, put in front of this file by
// gpu/mod.rs.

const ROWS: u32 = 32u;               // query rows per workgroup
const LANES: u32 = 4u;               // invocations per query row, splitting the keys
const KEYS: u32 = 32u;               // keys per tile in workgroup memory
const PER_LANE: u32 = KEYS / LANES;  // keys per lane per tile
const MAX_D: u32 = 64u;              // largest d_k and d_v
const CHUNKS: u32 = MAX_D / 4u;      // vec4 chunks in a row of MAX_D
// A tile row is CHUNKS + 1 vec4s: the padding puts the 4 keys that a row's lanes read at the
// same time in different memory banks.
const STRIDE: u32 = CHUNKS + 1u;

// Keys and values, (KEYS, MAX_D) each, zeros past d_k and d_v: 2 × 32 × 17 × 16 = 17408 bytes.
// After the last tile the same memory holds the lanes' partial results (`combine`).
var<workgroup> key_tile: array<vec4<f32>, KEYS * STRIDE>;
var<workgroup> value_tile: array<vec4<f32>, KEYS * STRIDE>;

// ANCHOR: flash_attention
@compute @workgroup_size(ROWS * LANES)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,     // (tile of query rows, batch·head)
    @builtin(local_invocation_index) id: u32,    // 0..128
) {
    let bh = group.y;
    let local_row = id / LANES;     // row within the tile
    let lane = id % LANES;          // this invocation takes keys lane, lane + 4, ... of a tile
    let row = group.x * ROWS + local_row;
    let in_range = row < params.tgt_len;

    var query: array<vec4<f32>, CHUNKS>;    // Q[row] / sqrt(d_k); zeros past d_k
    var weighted: array<vec4<f32>, CHUNKS>; // this lane's running weighted sum of values
    if (in_range) {
        let base = offset(params.q_strides, bh, row);
        for (var i = 0u; i < CHUNKS; i++) {
            for (var c = 0u; c < 4u; c++) {
                let d = i * 4u + c;
                if (d < params.d_k) { query[i][c] = queries[base + d] * params.scale; }
            }
        }
    }
    var running_max = -3.0e38; // max score this lane has seen (no -inf literal in WGSL)
    var running_sum = 0.0;     // sum of exp(score - running_max) over this lane's keys

    // A causal tile of rows never needs keys past its last row.
    var key_end = params.src_len;
    if (params.causal == 1u) { key_end = min(key_end, min(group.x * ROWS + ROWS, params.tgt_len)); }

    for (var start = 0u; start < key_end; start += KEYS) {
        load_tile(bh, start, id);
        workgroupBarrier(); // keys and values are loaded

        // This lane's 8 scores, each a whole dot product: four partial sums (a vec4) that
        // the compiler can keep in flight at once, added at the end.
        var scores: array<f32, PER_LANE>;
        var tile_max = running_max;
        for (var j = 0u; j < PER_LANE; j++) {
            let at = (j * LANES + lane) * STRIDE;
            var sum = vec4<f32>(0.0);
            for (var i = 0u; i < CHUNKS; i++) { sum += query[i] * key_tile[at + i]; }
            let score = (sum.x + sum.y) + (sum.z + sum.w);
            let key = start + j * LANES + lane;
            let visible = key < params.src_len && (params.causal == 0u || key <= row);
            scores[j] = select(-3.0e38, score, visible);
            tile_max = max(tile_max, scores[j]);
        }
        // Online softmax: rescale what we have to the new max, then add the tile's keys.
        let rescale = exp(running_max - tile_max);
        running_sum *= rescale;
        for (var i = 0u; i < CHUNKS; i++) { weighted[i] *= rescale; }
        for (var j = 0u; j < PER_LANE; j++) {
            // An invisible key weighs 0, also while this lane has seen no visible key.
            let p = select(0.0, exp(scores[j] - tile_max), scores[j] > -1.0e38);
            running_sum += p;
            let at = (j * LANES + lane) * STRIDE;
            for (var i = 0u; i < CHUNKS; i++) { weighted[i] += p * value_tile[at + i]; }
        }
        running_max = tile_max;
        workgroupBarrier(); // everyone is done with the tile before the next overwrites it
    }

    combine(local_row, lane, running_max, running_sum, &weighted);
    if (in_range && lane == 0u) {
        let base = offset(params.o_strides, bh, row);
        for (var i = 0u; i < CHUNKS; i++) {
            for (var c = 0u; c < 4u; c++) {
                let d = i * 4u + c;
                if (d < params.d_v) { output[base + d] = weighted[i][c]; }
            }
        }
    }
}
// ANCHOR_END: flash_attention

/// The four lanes of each row meet: each has a max m_l, a sum s_l and a weighted sum w_l over
/// its keys. With M the largest m_l and f_l = exp(m_l - M), the row's softmax-weighted sum
/// of values is Σ f_l·w_l / Σ f_l·s_l. Lane 0 ends up with it in `weighted`; the others' is
/// left undefined. Uses the tiles' workgroup memory (the key loop is over).
fn combine(local_row: u32, lane: u32, m: f32, s: f32, weighted: ptr<function, array<vec4<f32>, CHUNKS>>) {
    // Every lane's max and sum, through value_tile: vec4 r holds row r's four maxes (one
    // per lane), vec4 ROWS + r its four sums.
    value_tile[local_row][lane] = m;
    value_tile[ROWS + local_row][lane] = s;
    workgroupBarrier();
    let maxes = value_tile[local_row];
    let sums = value_tile[ROWS + local_row];
    let top = max(max(maxes.x, maxes.y), max(maxes.z, maxes.w));
    let factors = exp(maxes - vec4<f32>(top)); // f_l; 0 for a lane that saw no key
    let total = dot(factors, sums);
    let mine = factors[lane];
    // Lanes 1, 2, 3 in turn hand their f_l·w_l to lane 0 through key_tile (ROWS rows of
    // CHUNKS vec4s); lane 0 adds them to its own.
    if (lane == 0u) {
        for (var i = 0u; i < CHUNKS; i++) { (*weighted)[i] *= mine; }
    }
    for (var sender = 1u; sender < LANES; sender++) {
        if (lane == sender) {
            for (var i = 0u; i < CHUNKS; i++) { key_tile[local_row * CHUNKS + i] = (*weighted)[i] * mine; }
        }
        workgroupBarrier();
        if (lane == 0u) {
            for (var i = 0u; i < CHUNKS; i++) { (*weighted)[i] += key_tile[local_row * CHUNKS + i]; }
        }
        workgroupBarrier();
    }
    if (lane == 0u) {
        let inverse = 1.0 / total;
        for (var i = 0u; i < CHUNKS; i++) { (*weighted)[i] *= inverse; }
    }
}

/// The whole workgroup copies keys start..start + KEYS and their values into workgroup
/// memory; zeros past src_len, d_k and d_v.
fn load_tile(bh: u32, start: u32, id: u32) {
    for (var i = id; i < KEYS * MAX_D; i += ROWS * LANES) {
        let j = i / MAX_D;
        let d = i % MAX_D;
        let key = start + j;
        var x = 0.0;
        var y = 0.0;
        if (key < params.src_len) {
            if (d < params.d_k) { x = keys[offset(params.k_strides, bh, key) + d]; }
            if (d < params.d_v) { y = values[offset(params.v_strides, bh, key) + d]; }
        }
        key_tile[j * STRIDE + d / 4u][d % 4u] = x;
        value_tile[j * STRIDE + d / 4u][d % 4u] = y;
    }
}
