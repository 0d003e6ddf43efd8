//! Chapter 2: sinusoidal and learned positional encodings.

mod common;

use attention::ndarray::{Array2, Array3, Ix2, s};
use attention::params::{Module, Params};
use attention::positional::{LearnedPositionalEmbedding, SinusoidalEncoding, sinusoidal_encoding};
use attention::weights::NamedTensors;
use common::{assert_close, fixture};

#[test]
fn sinusoidal_matches_pytorch_tutorial() {
    let f = fixture("positional_encoding");
    let pe = sinusoidal_encoding(f.usize("max_len"), f.usize("d_model")).unwrap();
    assert_close("positional_encoding", &pe, &f.output::<Ix2>("pe"));
}

#[test]
fn sinusoidal_entries_by_hand() {
    let pe = sinusoidal_encoding(10, 16).unwrap();
    // PE[pos, 2i] = sin(pos / 10000^(2i/16)), PE[pos, 2i+1] = cos(pos / 10000^(2i/16)).
    assert_eq!((pe[[0, 0]], pe[[0, 1]]), (0.0, 1.0));
    assert!((pe[[1, 0]] - 1.0_f32.sin()).abs() < 1e-7);
    assert!((pe[[1, 1]] - 1.0_f32.cos()).abs() < 1e-7);
    assert!((pe[[2, 2]] - (2.0 / 10000_f64.powf(2.0 / 16.0)).sin() as f32).abs() < 1e-7);
    assert!((pe[[3, 15]] - (3.0 / 10000_f64.powf(14.0 / 16.0)).cos() as f32).abs() < 1e-7);
}

#[test]
fn a_fixed_offset_is_a_rotation_of_each_sine_cosine_pair() {
    // sin(a + b) = sin a cos b + cos a sin b and cos(a + b) = cos a cos b − sin a sin b:
    // PE[pos + k] is PE[pos] rotated pair by pair by the angles of PE[k], whatever pos is.
    // That is why a linear map can attend "k tokens back".
    let (pe, k) = (sinusoidal_encoding(40, 8).unwrap(), 5);
    for pos in 0..30 {
        for i in (0..8).step_by(2) {
            let (sin_p, cos_p) = (pe[[pos, i]], pe[[pos, i + 1]]);
            let (sin_k, cos_k) = (pe[[k, i]], pe[[k, i + 1]]);
            assert!((pe[[pos + k, i]] - (sin_p * cos_k + cos_p * sin_k)).abs() < 1e-5);
            assert!((pe[[pos + k, i + 1]] - (cos_p * cos_k - sin_p * sin_k)).abs() < 1e-5);
        }
    }
}

#[test]
fn encodings_add_the_same_positions_to_every_sequence() {
    let encoding = SinusoidalEncoding::new(8, 4).unwrap();
    let x = Array3::<f32>::ones((2, 3, 4));
    let y = encoding.forward(&x).unwrap();
    for b in 0..2 {
        let expected = encoding.table.slice(s![..3, ..]).mapv(|v| v + 1.0);
        assert_eq!(y.slice(s![b, .., ..]), expected);
    }
    let learned = LearnedPositionalEmbedding::from_params(&Params::seeded(0), 8, 4).unwrap();
    let y = learned.forward(&Array2::<f32>::zeros((5, 4))).unwrap();
    assert_eq!(y, learned.weight.slice(s![..5, ..]));
    let mut saved = NamedTensors::new();
    learned.parameters_into("wpe", &mut saved);
    assert_eq!(
        LearnedPositionalEmbedding::from_params(&Params::load(&saved).sub("wpe"), 8, 4).unwrap(),
        learned
    );
}

#[test]
fn too_long_or_wrong_width_is_a_clear_error() {
    let encoding = SinusoidalEncoding::new(4, 6).unwrap();
    let msg = encoding
        .forward(&Array2::<f32>::zeros((5, 6)))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("max_len = 4") && msg.contains("seq = 5"),
        "{msg}"
    );
    let msg = encoding
        .forward(&Array2::<f32>::zeros((3, 5)))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`x`") && msg.contains("(seq, 6)") && msg.contains("(3, 5)"),
        "{msg}"
    );
    assert!(
        sinusoidal_encoding(0, 4)
            .unwrap_err()
            .to_string()
            .contains("max_len = 0")
    );
}
