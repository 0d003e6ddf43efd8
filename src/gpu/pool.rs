//! A pool of GPU buffers, so that repeated calls allocate nothing.
//!
//! Creating a buffer costs a trip through the driver. A [`PooledBuffer`] goes back to the pool
//! when dropped, and the next request for the same size class and usage gets it again. GPU
//! work is ordered on the one queue, so a buffer handed out again after its last use was
//! submitted is safe to overwrite.
//!
//! Sizes are rounded up to one of 8 classes per power of two (at most 12.5 % more), so that a
//! growing sequence length reuses buffers too, and the pool keeps at most [`MAX_FREE_BYTES`]
//! of free buffers: past that, a returned buffer is released.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The most bytes of free buffers the pool keeps.
const MAX_FREE_BYTES: u64 = 1 << 30;

/// Free buffers, and how many buffers were ever created.
pub(super) struct Pool {
    free: Mutex<Free>,
    created: AtomicUsize,
    /// The largest buffer the device takes (a size class never exceeds it).
    max_size: u64,
}

/// The free buffers by (size class in bytes, usage), and their total size in bytes.
#[derive(Default)]
struct Free {
    lists: HashMap<(u64, wgpu::BufferUsages), Vec<wgpu::Buffer>>,
    bytes: u64,
}

/// A buffer on loan from a [`Pool`]; it goes back when dropped.
pub(super) struct PooledBuffer {
    buffer: Option<wgpu::Buffer>, // None only while dropping
    pool: Arc<Pool>,
}

impl Pool {
    /// An empty pool for buffers of at most `max_size` bytes.
    pub(super) fn new(max_size: u64) -> Pool {
        Pool {
            free: Mutex::default(),
            created: AtomicUsize::new(0),
            max_size: max_size / 16 * 16,
        }
    }

    /// A free buffer of at least `size` bytes with exactly `usage`, reused when one of its
    /// size class is free. `size` must be at most the pool's `max_size`.
    pub(super) fn take(
        self: &Arc<Self>,
        device: &wgpu::Device,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> PooledBuffer {
        let size = size_class(size).min(self.max_size.max(size));
        let reused = {
            let mut free = self.lock();
            let buffer = free.lists.get_mut(&(size, usage)).and_then(Vec::pop);
            free.bytes -= buffer.as_ref().map_or(0, wgpu::Buffer::size);
            buffer
        };
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Free> {
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
            let mut free = self.pool.lock();
            if free.bytes + buffer.size() <= MAX_FREE_BYTES {
                free.bytes += buffer.size();
                free.lists
                    .entry((buffer.size(), buffer.usage()))
                    .or_default()
                    .push(buffer);
            } // else dropped here: wgpu releases it
        }
    }
}

/// `size` rounded up to a multiple of 16 bytes (the largest alignment a binding or copy
/// needs) and of a sixteenth of its power of two: 100 → 112, 1000 → 1024, 1100 → 1152.
fn size_class(size: u64) -> u64 {
    let step = (size.max(1).next_power_of_two() / 16).max(16);
    size.max(1).next_multiple_of(step)
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_round_up_by_at_most_an_eighth() {
        assert_eq!(size_class(0), 16);
        assert_eq!(size_class(4), 16);
        assert_eq!(size_class(100), 112);
        assert_eq!(size_class(1000), 1024);
        assert_eq!(size_class(1100), 1152);
        assert_eq!(size_class(4096 * 4096 * 4), 4096 * 4096 * 4);
        for size in (1..100_000).step_by(37) {
            let class = size_class(size);
            assert!(
                class >= size && class.is_multiple_of(16),
                "{size} → {class}"
            );
            assert!(class - size <= (size / 8).max(15), "{size} → {class}");
        }
    }
}
