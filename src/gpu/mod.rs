//! Chapter 8 — attention on a GPU (feature `gpu`): WGSL compute kernels run through `wgpu`.
//!
//! Each kernel comes twice, a short WGSL file per version beside this one: a simple one to read
//! first, and a fast one that reorganises the same arithmetic for the hardware.
//! - Matrix product: [`matmul_tiled`] (`matmul.wgsl`), one output per invocation of a 16 × 16
//!   workgroup, and [`matmul`] (`matmul_blocked.wgsl`), a 4 × 4 block of outputs per invocation
//!   and a 64 × 64 tile per workgroup (register blocking).
//! - Fused scaled dot-product attention, FlashAttention style (the (seq × seq) scores never
//!   exist anywhere): [`attention_heads_simple`] (`attention.wgsl`), one invocation per query
//!   row, and [`attention_heads`] (`attention_flash.wgsl`), FlashAttention-2's split: each
//!   invocation holds a whole query row and its output in registers, and four invocations per
//!   row split the keys (heads of up to 64; `attention_flash_wide.wgsl`, four invocations
//!   per row each holding a quarter of the head dimension, takes heads of 65 to 128).
//!
//! Both versions are tested on Mesa's llvmpipe and were timed on an NVIDIA H200 (chapter 8,
//! `benches/gpu_fast.json`).
//!
//! Buffers come from a pool ([`Gpu::buffers_created`] stops growing once the shapes repeat),
//! and [`GpuTensor`] keeps data on the GPU between kernels: [`GpuMultiHeadAttention`] and
//! [`GpuEncoderLayer`] run a whole layer with one upload and one read-back (LayerNorm, the
//! residual additions and the activations are the small kernels `layer_norm.wgsl` and
//! `elementwise.wgsl`).
//!
//! The chapters do not call this module: [`crate::backend::set_device`] sends every
//! [`crate::backend::matmul`] to [`matmul`], and [`crate::fast::Kernel::Gpu`] picks
//! [`attention_heads`].
//!
//! `wgpu` runs on Vulkan, Metal and DX12. Without a GPU, Mesa's software Vulkan driver
//! (Debian `mesa-vulkan-drivers`, adapter "llvmpipe") runs the same kernels on the CPU, slowly:
//! that is how CI tests them. `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` choose among several.

mod attention;
mod encoder;
mod flash;
mod layers;
mod matmul;
mod multi_head;
mod pool;
mod tensor;

pub use attention::{MAX_HEAD_DIM, attention_heads_simple, attention_tensors_simple};
pub use encoder::GpuEncoderLayer;
pub use flash::{attention_heads, attention_tensors};
pub use matmul::{matmul, matmul_tensors, matmul_tiled, matmul_tiled_tensors};
pub use multi_head::GpuMultiHeadAttention;
pub use tensor::GpuTensor;
/// The `wgpu` crate itself, e.g. for [`Gpu::new`]'s `wgpu::Backends`.
pub use wgpu;

use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use pool::{Pool, PooledBuffer};

/// A GPU device with the crate's kernels compiled for it.
pub struct Gpu {
    adapter: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    device: wgpu::Device,
    queue: wgpu::Queue,
    kernels: Kernels,
    pool: Arc<Pool>,
}

/// The crate's kernels, compiled once per device.
struct Kernels {
    matmul_tiled: Kernel,
    matmul_blocked: Kernel,
    attention_simple: Kernel,
    layer_norm: Kernel,
    elementwise: Kernel,
    /// None when the adapter has less workgroup memory than the kernel needs.
    attention_flash: Option<Kernel>,
    /// The flash kernel for heads of 65 to 128 dimensions; None likewise.
    attention_flash_wide: Option<Kernel>,
}

impl Kernels {
    fn compile(device: &wgpu::Device, limits: &wgpu::Limits) -> Kernels {
        let memory = limits.max_compute_workgroup_storage_size;
        let flash = concat!(
            include_str!("attention_flash_io.wgsl"),
            include_str!("attention_flash.wgsl")
        );
        let wide = concat!(
            include_str!("attention_flash_io.wgsl"),
            include_str!("attention_flash_wide.wgsl")
        );
        Kernels {
            matmul_tiled: compile(device, "matmul", include_str!("matmul.wgsl")),
            matmul_blocked: compile(
                device,
                "matmul_blocked",
                include_str!("matmul_blocked.wgsl"),
            ),
            attention_simple: compile(device, "attention", include_str!("attention.wgsl")),
            layer_norm: compile(device, "layer_norm", include_str!("layer_norm.wgsl")),
            elementwise: compile(device, "elementwise", include_str!("elementwise.wgsl")),
            attention_flash: (memory >= FLASH_WORKGROUP_BYTES)
                .then(|| compile(device, "attention_flash", flash)),
            attention_flash_wide: (memory >= FLASH_WIDE_WORKGROUP_BYTES)
                .then(|| compile(device, "attention_flash_wide", wide)),
        }
    }
}

/// Workgroup memory `attention_flash.wgsl` needs: two tiles of 32 keys × (64 + 4) floats,
/// in bytes (17 408). Desktop adapters (Vulkan, Metal, DX12) have at least this much.
const FLASH_WORKGROUP_BYTES: u32 = 2 * 32 * (64 + 4) * 4;

/// Workgroup memory `attention_flash_wide.wgsl` needs: two 16 × 128 tiles and 64 × 16 × 4
/// partial scores, in bytes (32 768).
const FLASH_WIDE_WORKGROUP_BYTES: u32 = (2 * 16 * 128 + 64 * 16 * 4) * 4;

impl Gpu {
    /// The crate's GPU, started on first use and shared from then on.
    ///
    /// Fails with [`Error::Gpu`] naming wgpu's reason when there is no usable adapter.
    pub fn get() -> Result<&'static Gpu> {
        static GPU: OnceLock<Result<Gpu>> = OnceLock::new();
        GPU.get_or_init(|| Gpu::new(wgpu::Backends::PRIMARY.with_env()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Starts a GPU on one of `backends` (Vulkan, Metal, DX12, ...) and compiles the kernels.
    pub fn new(backends: wgpu::Backends) -> Result<Gpu> {
        let instance = wgpu::Instance::new(&wgpu::InstanceDescriptor {
            backends,
            ..Default::default()
        });
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        };
        let adapter = pollster::block_on(instance.request_adapter(&options)).map_err(|e| {
            Error::gpu(format!(
                "no GPU adapter for backends {backends:?}: wgpu says \"{e}\" \
                 (on Linux without a GPU, install Mesa's software Vulkan driver: \
                 `apt install mesa-vulkan-drivers`)"
            ))
        })?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("attention"),
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|e| {
                Error::gpu(format!(
                    "adapter \"{}\" refused a device: wgpu says \"{e}\"",
                    info.name
                ))
            })?;
        let max_size = limits.max_buffer_size;
        let max_size = max_size.min(limits.max_storage_buffer_binding_size.into());
        Ok(Gpu {
            adapter: info,
            kernels: Kernels::compile(&device, &limits),
            limits,
            device,
            queue,
            pool: Arc::new(Pool::new(max_size)),
        })
    }

    /// The adapter's name and backend, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub fn adapter_name(&self) -> String {
        let info = &self.adapter;
        format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
    }

    /// Waits until every kernel submitted so far has finished. Kernels run asynchronously
    /// (only a read-back waits for them), so a timing loop calls this before it stops the clock.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait)
            .map(|_| ())
            .map_err(|e| Error::gpu(format!("GPU lost while waiting for its kernels: {e}")))
    }

    /// How many GPU buffers the crate has created: repeated calls of the same shapes reuse
    /// pooled buffers, so this stops growing.
    pub fn buffers_created(&self) -> usize {
        self.pool.created()
    }

    /// An error naming `name` unless `len` floats fit in one binding on this adapter.
    fn check_size(&self, name: &str, len: usize) -> Result<()> {
        let limit = u64::from(self.limits.max_storage_buffer_binding_size);
        if bytes(len) > limit {
            return Err(Error::gpu(format!(
                "`{name}` needs {} bytes on the GPU; adapter \"{}\" binds at most {limit}",
                bytes(len),
                self.adapter.name
            )));
        }
        Ok(())
    }

    /// A pooled uniform buffer holding a kernel's parameters.
    fn uniform<T: bytemuck::Pod>(&self, params: &T) -> PooledBuffer {
        let usage = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let size = size_of::<T>() as u64;
        let buffer = self.pool.take(&self.device, size, usage);
        self.queue
            .write_buffer(&buffer, 0, bytemuck::bytes_of(params));
        buffer
    }

    /// Submits `kernel` over `workgroups` with `bindings` as bind group 0 (in binding order).
    /// It returns at once: the GPU runs the kernel in queue order, and [`GpuTensor::download`]
    /// waits for it.
    fn dispatch(&self, kernel: &Kernel, bindings: &[&wgpu::Buffer], workgroups: [u32; 3]) {
        let entries: Vec<_> = bindings
            .iter()
            .enumerate()
            .map(|(i, buffer)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &kernel.layout,
            entries: &entries,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            let [x, y, z] = workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
        self.queue.submit([encoder.finish()]);
    }
}

/// A compiled kernel and its bind-group layout, both made once.
struct Kernel {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

fn compile(device: &wgpu::Device, name: &str, source: &str) -> Kernel {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let layout = pipeline.get_bind_group_layout(0);
    Kernel { pipeline, layout }
}

/// Bytes in `len` floats.
fn bytes(len: usize) -> u64 {
    (len * size_of::<f32>()) as u64
}

/// How many workgroups of `size` cover `n` items, as a dispatch count.
fn groups(n: usize, size: usize, what: &str) -> Result<u32> {
    const MAX: usize = 65_535; // WebGPU's maxComputeWorkgroupsPerDimension default
    let count = n.div_ceil(size);
    if count > MAX {
        return Err(Error::gpu(format!(
            "{what} = {n} needs {count} workgroups in one dimension; at most {MAX} fit"
        )));
    }
    Ok(count as u32)
}
