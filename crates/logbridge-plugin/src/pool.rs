//! The plugin's memory allocator: small blocks kept on free lists by size class, on top
//! of the system allocator.
//!
//! Inside a plugin every call allocates a handful of small blocks (the event's detail,
//! each edit's field and value, the answer's list) and frees them before the next call.
//! The system allocator (wasi-libc's dlmalloc) spends about 17 ns on an allocation and
//! its free inside a plugin, as much as the rest of a simple call; a free list spends
//! about 4. So blocks up to [`LARGEST`] bytes come in nine power-of-two classes, and a
//! freed block goes on its class's list for the next allocation of that class. Larger
//! blocks go to the system allocator, and so do over-aligned ones.
//!
//! Each block starts with a 16-byte header that names its class (or, for a large block,
//! its size), so a block is freed by what it is, not by the size it is freed with: the
//! canonical ABI frees a string the plugin returned with its length, not its capacity.
//! Blocks on the lists are not given back: a plugin's small-block memory stays at its
//! high-water mark (the host recycles an instance whose memory grew too large).
//!
//! It is the global allocator of a plugin built with the SDK's `pool` feature (on by
//! default) for a single-threaded WebAssembly target; `default-features = false` keeps
//! the system allocator, for a plugin that brings its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// How many size classes: 16, 32, ... 4096 bytes, header included.
const CLASSES: usize = 9;
/// The smallest class, in bytes; also the header's size and the alignment of every
/// block this pool hands out.
const SMALLEST: usize = 16;
/// The largest class, in bytes, header included; larger blocks go to the system
/// allocator (with a header too).
pub(crate) const LARGEST: usize = SMALLEST << (CLASSES - 1);
/// The header's mark of a large block (its first word; the second holds the chunk's
/// size, written only for large blocks).
const LARGE: usize = usize::MAX;

/// The class of a block of `size` bytes, header included (at most [`LARGEST`]): the
/// smallest power of two from [`SMALLEST`] that holds it.
pub(crate) fn class(size: usize) -> usize {
    let size = size.max(SMALLEST);
    (usize::BITS - (size - 1).leading_zeros() - SMALLEST.trailing_zeros()) as usize
}

/// The layout of a chunk of `total` bytes, header included; `None` when no layout is
/// that large.
fn chunk_layout(total: usize) -> Option<Layout> {
    Layout::from_size_align(total, SMALLEST).ok()
}

/// Free lists of small blocks by size class, over the system allocator.
pub struct Pool {
    /// Each class's first free block; a free block's first word links to the next.
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

// SAFETY: the pool is the global allocator only on single-threaded WebAssembly targets
// (see `lib.rs`), where no two threads can reach it; elsewhere it is used only by the
// tests, each from one thread.
#[allow(unsafe_code)]
unsafe impl Sync for Pool {}

impl Pool {
    /// Empty free lists.
    pub const fn new() -> Self {
        Pool {
            free: UnsafeCell::new([ptr::null_mut(); CLASSES]),
        }
    }
}

impl Default for Pool {
    fn default() -> Self {
        Self::new()
    }
}

#[allow(unsafe_code)]
impl Pool {
    /// The free chunk of `class`, taken off its list, if there is one.
    ///
    /// # Safety
    /// Single-threaded (see `Sync`); `class` below [`CLASSES`].
    #[inline]
    unsafe fn take(&self, class: usize) -> Option<*mut u8> {
        // SAFETY: no reference into the lists outlives this call.
        let free = unsafe { &mut *self.free.get() };
        let head = free[class];
        if head.is_null() {
            return None;
        }
        // SAFETY: a free chunk holds the link to the next in its first word.
        free[class] = unsafe { head.cast::<*mut u8>().read() };
        Some(head)
    }

    /// Writes `chunk`'s mark (its class, or [`LARGE`]) and answers the block after it. A
    /// class's chunk size follows from the class; a large chunk's size is written beside
    /// the mark by `alloc_slow`.
    ///
    /// # Safety
    /// `chunk` is at least `SMALLEST` bytes, aligned to them.
    #[inline]
    unsafe fn open(chunk: *mut u8, mark: usize) -> *mut u8 {
        // SAFETY: room for the header's first word, aligned for it.
        unsafe {
            chunk.cast::<usize>().write(mark);
            chunk.add(SMALLEST)
        }
    }

    /// [`GlobalAlloc::alloc`] when no free chunk serves: a new chunk from the system
    /// allocator, or an over-aligned block.
    ///
    /// # Safety
    /// As `alloc`.
    #[cold]
    #[inline(never)]
    unsafe fn alloc_slow(&self, layout: Layout) -> *mut u8 {
        if layout.align() > SMALLEST {
            // SAFETY: the caller's layout, as it gave it.
            return unsafe { System.alloc(layout) };
        }
        let Some(total) = layout.size().checked_add(SMALLEST) else {
            return ptr::null_mut();
        };
        let (size, mark) = if total <= LARGEST {
            let class = class(total);
            (SMALLEST << class, class)
        } else {
            (total, LARGE)
        };
        let Some(chunk_layout) = chunk_layout(size) else {
            return ptr::null_mut();
        };
        // SAFETY: a non-zero size.
        let chunk = unsafe { System.alloc(chunk_layout) };
        if chunk.is_null() {
            return chunk;
        }
        // SAFETY: a chunk of at least `SMALLEST` bytes, aligned to them: room for the
        // header's two words.
        unsafe {
            if mark == LARGE {
                chunk.cast::<usize>().add(1).write(size);
            }
            Self::open(chunk, mark)
        }
    }

    /// [`GlobalAlloc::dealloc`] of an over-aligned or a large block.
    ///
    /// # Safety
    /// As `dealloc`.
    #[cold]
    #[inline(never)]
    unsafe fn dealloc_slow(&self, block: *mut u8, layout: Layout) {
        if layout.align() > SMALLEST {
            // SAFETY: as the caller gives it back.
            return unsafe { System.dealloc(block, layout) };
        }
        // SAFETY: a large block from `alloc_slow`, whose header holds its chunk's size.
        unsafe {
            let chunk = block.sub(SMALLEST);
            let size = chunk.cast::<usize>().add(1).read();
            System.dealloc(chunk, Layout::from_size_align_unchecked(size, SMALLEST));
        }
    }

    /// [`GlobalAlloc::realloc`] when the block does not fit where it is: moved.
    ///
    /// # Safety
    /// As `realloc`.
    #[cold]
    #[inline(never)]
    unsafe fn realloc_slow(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's promises, passed on; the copy is of what both hold.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
            moved
        }
    }
}

#[allow(unsafe_code)]
// SAFETY: every block handed out is at least as large and as aligned as asked: it sits
// `SMALLEST` bytes into a chunk of its class's full size (or, large, of its own size
// plus the header), and every chunk is aligned to `SMALLEST`; layouts aligned to more go
// to the system allocator both ways, as `align` tells on the way back. A freed block's
// header says which list its chunk goes on, or that it goes back to the system
// allocator, with which layout. The common paths are inlined, the rest kept apart so
// every allocation site of a plugin does not carry them.
unsafe impl GlobalAlloc for Pool {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= SMALLEST && layout.size() <= LARGEST - SMALLEST {
            let class = class(layout.size() + SMALLEST);
            // SAFETY: single-threaded; a class below `CLASSES`; a free chunk is of its
            // class's size, aligned to `SMALLEST`.
            if let Some(chunk) = unsafe { self.take(class) } {
                return unsafe { Self::open(chunk, class) };
            }
        }
        // SAFETY: the caller's promises, passed on.
        unsafe { self.alloc_slow(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if layout.align() <= SMALLEST {
            // SAFETY: the block came from `alloc`, `SMALLEST` bytes into its chunk,
            // whose header says what it is.
            unsafe {
                let chunk = block.sub(SMALLEST);
                let mark = chunk.cast::<usize>().read();
                if mark != LARGE {
                    let free = &mut *self.free.get();
                    chunk.cast::<*mut u8>().write(free[mark]);
                    free[mark] = chunk;
                    return;
                }
            }
        }
        // SAFETY: the caller's promises, passed on.
        unsafe { self.dealloc_slow(block, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= SMALLEST && new_size <= LARGEST - SMALLEST {
            // SAFETY: as in `dealloc`.
            let mark = unsafe { block.sub(SMALLEST).cast::<usize>().read() };
            if mark == class(new_size + SMALLEST) {
                // Still fits its chunk: nothing to move.
                return block;
            }
        }
        // SAFETY: the caller's promises, passed on.
        unsafe { self.realloc_slow(block, layout, new_size) }
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout};

    use super::{LARGEST, Pool, SMALLEST, class};

    #[test]
    fn classes_are_the_powers_of_two_that_hold_a_size() {
        assert_eq!(class(1), 0);
        assert_eq!(class(16), 0);
        assert_eq!(class(17), 1);
        assert_eq!(class(32), 1);
        assert_eq!(class(33), 2);
        assert_eq!(class(LARGEST), 8);
        for size in 1..=LARGEST {
            let room = SMALLEST << class(size);
            assert!(
                room >= size && (room == SMALLEST || room / 2 < size),
                "{size}"
            );
        }
    }

    /// A small generator of test sizes, the same on every run.
    struct Numbers(u64);

    impl Numbers {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn live_blocks_are_aligned_apart_and_keep_their_contents() {
        let pool = Pool::new();
        let mut numbers = Numbers(7);
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        for round in 0..20_000u32 {
            if live.is_empty() || numbers.below(3) > 0 {
                let size = match numbers.below(10) {
                    0 => 1 + numbers.below(20_000) as usize,
                    _ => 1 + numbers.below(300) as usize,
                };
                let align = [1, 2, 4, 8, 16, 32, 64][numbers.below(7) as usize];
                let layout = Layout::from_size_align(size, align).unwrap();
                let block = unsafe { pool.alloc(layout) };
                assert!(!block.is_null());
                assert_eq!(block as usize % align, 0, "{layout:?}");
                let fill = round as u8;
                unsafe { block.write_bytes(fill, size) };
                live.push((block, layout, fill));
            } else {
                let (block, layout, fill) =
                    live.swap_remove(numbers.below(live.len() as u64) as usize);
                let bytes = unsafe { std::slice::from_raw_parts(block, layout.size()) };
                assert!(bytes.iter().all(|&b| b == fill), "a block was written over");
                unsafe { pool.dealloc(block, layout) };
            }
        }
        for (block, layout, fill) in live {
            let bytes = unsafe { std::slice::from_raw_parts(block, layout.size()) };
            assert!(bytes.iter().all(|&b| b == fill), "a block was written over");
            unsafe { pool.dealloc(block, layout) };
        }
    }

    #[test]
    fn a_block_freed_with_a_shorter_length_goes_back_to_its_own_class() {
        // The canonical ABI frees a string the plugin returned with its length, not its
        // capacity: the block must still serve an allocation of its full size.
        let pool = Pool::new();
        let big = Layout::from_size_align(100, 1).unwrap();
        let block = unsafe { pool.alloc(big) };
        unsafe { pool.dealloc(block, Layout::from_size_align(3, 1).unwrap()) };
        let again = unsafe { pool.alloc(big) };
        assert_eq!(again, block, "reused for its own class");
        unsafe { again.write_bytes(1, 100) };
        let small = unsafe { pool.alloc(Layout::from_size_align(3, 1).unwrap()) };
        assert_ne!(small, block);
        unsafe {
            pool.dealloc(again, big);
            pool.dealloc(small, Layout::from_size_align(3, 1).unwrap());
        }
        // A large block freed with a small length goes back to the system allocator.
        let huge = Layout::from_size_align(LARGEST * 3, 1).unwrap();
        let block = unsafe { pool.alloc(huge) };
        unsafe { block.write_bytes(2, huge.size()) };
        unsafe { pool.dealloc(block, Layout::from_size_align(5, 1).unwrap()) };
    }

    #[test]
    fn realloc_keeps_the_contents_in_place_or_moved() {
        let pool = Pool::new();
        let mut layout = Layout::from_size_align(5, 1).unwrap();
        let mut block = unsafe { pool.alloc(layout) };
        unsafe { block.copy_from_nonoverlapping(b"abcde".as_ptr(), 5) };
        for size in [6, 9, 40, 200, LARGEST, LARGEST * 4, 70, 5] {
            let grown = unsafe { pool.realloc(block, layout, size) };
            assert!(!grown.is_null());
            let kept = unsafe { std::slice::from_raw_parts(grown, 5) };
            assert_eq!(kept, b"abcde", "after resizing to {size}");
            unsafe { grown.add(5).write_bytes(0xee, size - 5) };
            if size == 6 {
                assert_eq!(grown, block, "6 bytes fit the chunk of 5");
            }
            block = grown;
            layout = Layout::from_size_align(size, 1).unwrap();
        }
        unsafe { pool.dealloc(block, layout) };
    }
}
