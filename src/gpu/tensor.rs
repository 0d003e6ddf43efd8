//! [`GpuTensor`]: an array that lives on the GPU, so that a chain of kernels uploads its
//! inputs once and reads its result back once.

use std::sync::mpsc;

use ndarray::{ArrayD, ArrayRef, Dimension, IxDyn};

use super::pool::PooledBuffer;
use super::{Gpu, bytes};
use crate::error::{Error, Result};

/// A row-major `f32` array in GPU memory, with its shape.
///
/// [`GpuTensor::upload`] copies an array there and [`GpuTensor::download`] copies it back;
/// in between, [`super::matmul_tensors`], [`super::attention_tensors`] and
/// [`super::GpuMultiHeadAttention`] take and give `GpuTensor`s without touching the CPU. Its
/// buffer returns to the GPU's pool when it is dropped.
pub struct GpuTensor {
    buffer: PooledBuffer,
    shape: Vec<usize>,
}

impl GpuTensor {
    /// Copies `x` to the GPU (row-major: transposed or strided views are copied into that
    /// layout first).
    ///
    /// Fails with [`Error::Gpu`] when there is no adapter or `x` is larger than it can bind.
    pub fn upload<D: Dimension>(x: &ArrayRef<f32, D>) -> Result<GpuTensor> {
        let gpu = Gpu::get()?;
        let tensor = GpuTensor::uninit(gpu, "x", x.shape())?;
        let x = x.as_standard_layout();
        let data = x.as_slice().expect("standard layout");
        if !data.is_empty() {
            gpu.queue
                .write_buffer(&tensor.buffer, 0, bytemuck::cast_slice(data));
        }
        Ok(tensor)
    }

    /// Copies the tensor back to the CPU, waiting for every kernel that writes it.
    pub fn download(&self) -> Result<ArrayD<f32>> {
        let gpu = Gpu::get()?;
        let data = gpu.read(&self.buffer, self.len())?;
        Ok(ArrayD::from_shape_vec(IxDyn(&self.shape), data).expect("len values"))
    }

    /// The shape, e.g. `[batch, seq, d_model]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A tensor of `shape` for a kernel to fill, from `gpu`'s pool; `name` is the argument
    /// an error names.
    pub(super) fn uninit(gpu: &Gpu, name: &str, shape: &[usize]) -> Result<GpuTensor> {
        let len = shape.iter().product();
        gpu.check_size(name, len)?;
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        Ok(GpuTensor {
            buffer: gpu.pool.take(&gpu.device, bytes(len), usage),
            shape: shape.to_vec(),
        })
    }

    pub(super) fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// The same data seen with another shape of as many elements.
    pub(super) fn reshaped(mut self, shape: &[usize]) -> GpuTensor {
        assert_eq!(
            shape.iter().product::<usize>(),
            self.len(),
            "reshape keeps the length"
        );
        self.shape = shape.to_vec();
        self
    }
}

impl std::fmt::Debug for GpuTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuTensor{}", crate::error::fmt_shape(&self.shape))
    }
}

impl Gpu {
    /// Copies the first `len` floats of `buffer` back to the CPU through a pooled staging
    /// buffer, waiting for the kernels submitted before.
    pub(super) fn read(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<f32>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let staging = self.pool.take(&self.device, bytes(len), usage);
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, bytes(len));
        self.queue.submit([encoder.finish()]);

        let (sender, receiver) = mpsc::channel();
        let slice = staging.slice(..bytes(len));
        slice.map_async(wgpu::MapMode::Read, move |mapped| {
            let _ = sender.send(mapped);
        });
        self.device
            .poll(wgpu::PollType::Wait)
            .map_err(|e| Error::gpu(format!("GPU lost while waiting for a kernel: {e}")))?;
        let mapped = receiver.recv().map_err(|e| Error::gpu(e.to_string()))?;
        mapped.map_err(|e| Error::gpu(format!("GPU read-back failed: {e}")))?;
        let result = bytemuck::cast_slice(&slice.get_mapped_range()).to_vec();
        staging.unmap();
        Ok(result)
    }
}

/// An error unless `tensor` has `rank` dimensions.
pub(super) fn check_rank(name: &str, tensor: &GpuTensor, rank: usize, what: &str) -> Result<()> {
    if tensor.shape.len() != rank {
        return Err(Error::shape(name, what, &tensor.shape));
    }
    Ok(())
}
