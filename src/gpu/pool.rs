//! A pool of GPU buffers, so that repeated calls allocate nothing.
//!
//! Creating a buffer costs a trip through the driver. A [`PooledBuffer`] goes back to the pool
//! when dropped, and the next request for the same size and usage gets it again. GPU work is
//! ordered on the one queue, so a buffer handed out again after its last use was submitted is
//! safe to overwrite.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Free buffers by (size in bytes, usage), and how many buffers were ever created.
#[derive(Default)]
pub(super) struct Pool {
    free: Mutex<HashMap<(u64, wgpu::BufferUsages), Vec<wgpu::Buffer>>>,
    created: AtomicUsize,
}

/// A buffer on loan from a [`Pool`]; it goes back when dropped.
pub(super) struct PooledBuffer {
    buffer: Option<wgpu::Buffer>, // None only while dropping
    pool: Arc<Pool>,
}

impl Pool {
    /// A free buffer of at least `size` bytes (rounded up to 16, the largest alignment a
    /// binding or copy needs) with exactly `usage`, reused when one is free.
    pub(super) fn take(
        self: &Arc<Self>,
        device: &wgpu::Device,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> PooledBuffer {
        let size = size.max(1).next_multiple_of(16);
        let reused = self.lock().get_mut(&(size, usage)).and_then(Vec::pop);
        let buffer = reused.unwrap_or_else(|| {
            self.created.fetch_add(1, Ordering::Relaxed);
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pooled"),
                size,
                usage,
                mapped_at_creation: false,
            })
        });
        PooledBuffer {
            buffer: Some(buffer),
            pool: Arc::clone(self),
        }
    }

    /// How many buffers the pool has created so far.
    pub(super) fn created(&self) -> usize {
        self.created.load(Ordering::Relaxed)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(u64, wgpu::BufferUsages), Vec<wgpu::Buffer>>> {
        // A panic elsewhere while holding the lock leaves the map valid: keep using it.
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Deref for PooledBuffer {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("present until dropped")
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            let key = (buffer.size(), buffer.usage());
            self.pool.lock().entry(key).or_default().push(buffer);
        }
    }
}
