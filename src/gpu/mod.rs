//! Chapter 8 — attention on a GPU (feature `gpu`): WGSL compute kernels run through `wgpu`.
//!
//! Two kernels, each a short WGSL file beside this one:
//! - [`matmul`] (`matmul.wgsl`): a tiled matrix product. A workgroup of 16 × 16 invocations
//!   computes one 16 × 16 tile of the product, staging tiles of both inputs in workgroup memory.
//! - [`attention_heads`] (`attention.wgsl`): fused scaled dot-product attention, FlashAttention
//!   style. One invocation per query row streams the keys and values through workgroup memory
//!   with an online softmax, so the (seq × seq) scores never exist anywhere.
//!
//! The chapters do not call this module: [`crate::backend::set_device`] sends every
//! [`crate::backend::matmul`] here, and [`crate::fast::Kernel::Gpu`] picks the fused kernel.
//!
//! `wgpu` runs on Vulkan, Metal and DX12. Without a GPU, Mesa's software Vulkan driver
//! (Debian `mesa-vulkan-drivers`, adapter "llvmpipe") runs the same kernels on the CPU, slowly:
//! that is how CI tests them. `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` choose among several.

mod attention;
mod matmul;

pub use attention::{MAX_HEAD_DIM, attention_heads};
pub use matmul::matmul;
/// The `wgpu` crate itself, e.g. for [`Gpu::new`]'s `wgpu::Backends`.
pub use wgpu;

use std::sync::OnceLock;
use std::sync::mpsc;

use ndarray::{ArrayRef, Dimension};
use wgpu::util::DeviceExt;

use crate::error::{Error, Result};

/// A GPU device with the crate's kernels compiled for it.
pub struct Gpu {
    adapter: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    device: wgpu::Device,
    queue: wgpu::Queue,
    matmul: wgpu::ComputePipeline,
    attention: wgpu::ComputePipeline,
}

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
        let matmul = compile(&device, "matmul", include_str!("matmul.wgsl"));
        let attention = compile(&device, "attention", include_str!("attention.wgsl"));
        Ok(Gpu {
            adapter: info,
            limits,
            device,
            queue,
            matmul,
            attention,
        })
    }

    /// The adapter's name and backend, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub fn adapter_name(&self) -> String {
        let info = &self.adapter;
        format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
    }

    /// A read-only storage buffer holding `x` in row-major order (the layout the kernels
    /// read; transposed or strided views are copied into it), checked against the adapter's
    /// size limit.
    fn input<D: Dimension>(&self, name: &str, x: &ArrayRef<f32, D>) -> Result<wgpu::Buffer> {
        self.check_size(name, x.len())?;
        let x = x.as_standard_layout();
        let data = x.as_slice().expect("standard layout");
        Ok(self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(name),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE,
            }))
    }

    /// A uniform buffer holding a kernel's parameters.
    fn uniform<T: bytemuck::Pod>(&self, params: &T) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: bytemuck::bytes_of(params),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    /// A storage buffer of `len` floats for a kernel to write.
    fn output(&self, name: &str, len: usize) -> Result<wgpu::Buffer> {
        self.check_size(name, len)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size: bytes(len),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        }))
    }

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

    /// Runs `pipeline` over `workgroups` with `bindings` as bind group 0 (in binding order),
    /// then copies `output` (`len` floats) back to the CPU.
    fn run(
        &self,
        pipeline: &wgpu::ComputePipeline,
        bindings: &[&wgpu::Buffer],
        workgroups: [u32; 3],
        output: &wgpu::Buffer,
        len: usize,
    ) -> Vec<f32> {
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
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes(len),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            let [x, y, z] = workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
        encoder.copy_buffer_to_buffer(output, 0, &readback, 0, bytes(len));
        self.queue.submit([encoder.finish()]);

        let (sender, receiver) = mpsc::channel();
        let slice = readback.slice(..);
        slice.map_async(wgpu::MapMode::Read, move |mapped| {
            let _ = sender.send(mapped);
        });
        self.device
            .poll(wgpu::PollType::Wait)
            .expect("GPU device lost while waiting for a kernel");
        receiver
            .recv()
            .expect("wgpu dropped the readback callback")
            .expect("GPU readback failed");
        let result = bytemuck::cast_slice(&slice.get_mapped_range()).to_vec();
        readback.unmap();
        result
    }
}

fn compile(device: &wgpu::Device, name: &str, source: &str) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    })
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
