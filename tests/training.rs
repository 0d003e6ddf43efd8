//! The training loop: teacher forcing, bad input, NaN detection, checkpoints, and a short
//! run that must lower the loss.

use attention::params::Params;
use attention::prelude::*;
use attention::train::tasks::SymbolTask;
use attention::train::trainer::{
    Batch, Example, TrainConfig, Trainer, load_checkpoint, save_checkpoint,
};

fn tiny_config() -> Seq2SeqConfig {
    Seq2SeqConfig {
        transformer: TransformerConfig {
            d_model: 16,
            num_heads: 2,
            d_ff: 32,
            num_encoder_layers: 1,
            num_decoder_layers: 1,
            norm_position: NormPosition::Post,
        },
        ..SymbolTask::Copy.model_config()
    }
}

fn recipe(steps: usize) -> TrainConfig {
    TrainConfig {
        steps,
        batch_size: 16,
        warmup: 10,
        eval_every: steps,
        ..SymbolTask::Copy.train_config(0)
    }
}

#[test]
fn teacher_forcing_shifts_the_target_and_pads() {
    let a: Example = (vec![BOS_ID, 5, 6, EOS_ID], vec![BOS_ID, 7, 8, 9, EOS_ID]);
    let b: Example = (vec![BOS_ID, 5, EOS_ID], vec![BOS_ID, 7, EOS_ID]);
    let batch = Batch::new(&[&a, &b], PAD_ID).unwrap();
    assert_eq!(
        batch.src,
        array![[BOS_ID, 5, 6, EOS_ID], [BOS_ID, 5, EOS_ID, PAD_ID]]
    );
    assert_eq!(
        batch.tgt_in,
        array![[BOS_ID, 7, 8, 9], [BOS_ID, 7, PAD_ID, PAD_ID]]
    );
    assert_eq!(
        batch.tgt_out,
        array![[7, 8, 9, EOS_ID], [7, EOS_ID, PAD_ID, PAD_ID]]
    );
}

#[test]
fn a_short_run_lowers_the_loss() {
    let mut model = Seq2SeqTransformer::from_params(&Params::seeded(0), tiny_config()).unwrap();
    let data = SymbolTask::Copy.examples(200, 1);
    let mut trainer = Trainer::new(recipe(40), 16, PAD_ID).unwrap();
    let before = trainer.evaluate(&model, &data).unwrap();
    let history = trainer.fit(&mut model, &data, &data, |_| {}).unwrap();
    let after = history.held_out.last().unwrap().1;
    assert_eq!(history.train.len(), 40);
    assert!(after < before - 0.2, "loss {before} → {after}");
}

#[test]
fn training_is_reproducible_from_its_seed() {
    let run = || {
        let mut model = Seq2SeqTransformer::from_params(&Params::seeded(3), tiny_config()).unwrap();
        let data = SymbolTask::Reverse.examples(50, 2);
        let config = TrainConfig {
            dropout: 0.1,
            ..recipe(5)
        };
        Trainer::new(config, 16, PAD_ID)
            .unwrap()
            .fit(&mut model, &data, &data, |_| {})
            .unwrap();
        model
    };
    assert_eq!(run(), run());
}

#[test]
fn bad_settings_are_named() {
    let err = |config: TrainConfig| Trainer::new(config, 16, PAD_ID).err().unwrap().to_string();
    assert!(
        err(TrainConfig {
            peak_lr: 0.0,
            ..recipe(5)
        })
        .contains("`peak_lr`")
    );
    assert!(
        err(TrainConfig {
            peak_lr: f64::NAN,
            ..recipe(5)
        })
        .contains("`peak_lr`")
    );
    assert!(
        err(TrainConfig {
            batch_size: 0,
            ..recipe(5)
        })
        .contains("`batch_size`")
    );
    assert!(
        err(TrainConfig {
            dropout: 1.0,
            ..recipe(5)
        })
        .contains("`p`")
    );
    assert!(
        err(TrainConfig {
            label_smoothing: 1.5,
            ..recipe(5)
        })
        .contains("`label_smoothing`")
    );
}

#[test]
fn bad_batches_are_named() {
    let mut model = Seq2SeqTransformer::from_params(&Params::seeded(0), tiny_config()).unwrap();
    let mut trainer = Trainer::new(recipe(5), 16, PAD_ID).unwrap();
    assert!(
        Batch::new(&[], PAD_ID)
            .unwrap_err()
            .to_string()
            .contains("`examples`")
    );
    let unknown: Example = (vec![BOS_ID, 99, EOS_ID], vec![BOS_ID, 5, EOS_ID]);
    let batch = Batch::new(&[&unknown], PAD_ID).unwrap();
    let e = trainer.step(&mut model, &batch).unwrap_err().to_string();
    assert!(e.contains("`ids`") && e.contains("99"), "{e}");
    let too_long: Example = (vec![BOS_ID, 5, EOS_ID], vec![BOS_ID; 40]);
    let batch = Batch::new(&[&too_long], PAD_ID).unwrap();
    assert!(trainer.step(&mut model, &batch).is_err());
    let mismatched = Array3::<f32>::zeros((1, 2, 14));
    let loss = attention::train::loss::CrossEntropyLoss::new(None, 0.0).unwrap();
    let e = loss
        .forward_backward(&mismatched, &array![[4, 5, 6]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("`targets`"), "{e}");
}

#[test]
fn a_nan_loss_names_the_step() {
    let mut model = Seq2SeqTransformer::from_params(&Params::seeded(0), tiny_config()).unwrap();
    model.generator.weight[[0, 0]] = f32::NAN;
    let data = SymbolTask::Copy.examples(20, 1);
    let mut trainer = Trainer::new(recipe(5), 16, PAD_ID).unwrap();
    let e = trainer
        .fit(&mut model, &data, &data, |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("`loss`") && e.contains("at step 1"), "{e}");
}

#[test]
fn checkpoints_round_trip_and_a_bad_one_changes_nothing() {
    let dir = std::env::temp_dir().join(format!("attention-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.safetensors");
    let trained = Seq2SeqTransformer::from_params(&Params::seeded(1), tiny_config()).unwrap();
    save_checkpoint(&trained, &path).unwrap();
    let mut model = Seq2SeqTransformer::from_params(&Params::seeded(2), tiny_config()).unwrap();
    load_checkpoint(&mut model, &path).unwrap();
    assert_eq!(model, trained);

    // A checkpoint of another shape: refused, naming a tensor, and the model is unchanged.
    let wider = Seq2SeqConfig {
        transformer: TransformerConfig {
            d_model: 32,
            ..tiny_config().transformer
        },
        ..tiny_config()
    };
    let other = Seq2SeqTransformer::from_params(&Params::seeded(3), wider).unwrap();
    save_checkpoint(&other, &path).unwrap();
    let before = model.clone();
    let e = load_checkpoint(&mut model, &path).unwrap_err().to_string();
    assert!(e.contains("wrong shape"), "{e}");
    assert_eq!(model, before);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn greedy_decoding_checks_its_arguments_first_and_stops_at_max_len() {
    let model = Seq2SeqTransformer::from_params(&Params::seeded(0), tiny_config()).unwrap();
    let src = [BOS_ID, 5, 6, EOS_ID];
    let e = greedy_decode(&model, &src, 99, EOS_ID, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`bos_id`"), "{e}");
    let e = greedy_decode(&model, &[BOS_ID, 99], BOS_ID, EOS_ID, 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`src_ids`"), "{e}");
    let tokens = greedy_decode(&model, &src, BOS_ID, 999 % 14, 1000).unwrap();
    assert!(
        tokens.len() <= model.config.max_len,
        "{} tokens",
        tokens.len()
    );
}
