#include "ops/thread_pool.h"

#include <algorithm>

#include "util/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace sluice::ops {
namespace {

// Tells the core this is a spin-wait loop (saves power, frees the sibling hyper-thread).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

}  // namespace

// Pauses first (the answer usually comes within microseconds), then yields the core between
// checks, so that on an oversubscribed machine the thread being waited for gets to run.
template <class Pred>
bool ThreadPool::spin_until(Pred pred) {
  for (int i = 0; i < 1024; ++i) {
    if (pred()) return true;
    cpu_relax();
  }
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::yield();
  }
  return true;
}

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  chunk_ranges_ = std::make_unique<ChunkRange[]>(static_cast<size_t>(n_threads_));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true);
  }
  work_ready_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_chunk(int index) {
  const int64_t chunk = (job_size_ + n_threads_ - 1) / n_threads_;
  const int64_t begin = std::min<int64_t>(job_size_, chunk * index);
  const int64_t end = std::min<int64_t>(job_size_, begin + chunk);
  if (begin < end) (*job_)(begin, end, index);
}

// Going to sleep and waking a sleeper pair up as a store followed by a load on each side
// (sleepers_ then generation_ here, generation_ then sleepers_ in parallel_for), all
// sequentially consistent: at least one side sees the other's store, so either the worker
// sees the new job or parallel_for sees the sleeper and notifies it under the mutex. The same
// holds for caller_asleep_ and pending_ at the end of a job.
void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  while (true) {
    const auto has_news = [&] { return stopping_.load() || generation_.load() != seen; };
    if (!spin_until(has_news)) {
      std::unique_lock lock(mutex_);
      sleepers_.fetch_add(1);
      work_ready_.wait(lock, has_news);
      sleepers_.fetch_sub(1);
    }
    if (stopping_.load()) return;
    seen = generation_.load();
    run_chunk(index);
    if (pending_.fetch_sub(1) == 1 && caller_asleep_.load()) {
      { std::lock_guard lock(mutex_); }  // the caller is inside wait() or has not checked yet
      work_done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n, 0);
    return;
  }
  job_ = &fn;
  job_size_ = n;
  pending_.store(n_threads_ - 1);
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    { std::lock_guard lock(mutex_); }  // a sleeper is inside wait() or has not checked yet
    work_ready_.notify_all();
  }
  run_chunk(0);
  const auto all_done = [&] { return pending_.load() == 0; };
  if (!spin_until(all_done)) {
    std::unique_lock lock(mutex_);
    caller_asleep_.store(true);
    work_done_.wait(lock, all_done);
    caller_asleep_.store(false);
  }
  job_ = nullptr;
}

void ThreadPool::parallel_chunks(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(chunk, 1);
  const int64_t n_chunks = (n + chunk - 1) / chunk;
  if (n_threads_ == 1 || n_chunks == 1) {
    fn(0, n, 0);
    return;
  }
  // Thread i owns chunks [i c / T, (i + 1) c / T) and takes them from the front; a thread
  // done with its own takes the others' from the back. Each range is one 64-bit word (front
  // in the low half, back in the high half) changed by compare-and-swap, so an owner and a
  // thief never take the same chunk. Without imbalance every thread works through the same
  // rows at every call, which keeps them in its own cache when they fit.
  SLUICE_ASSERT(n_chunks < (int64_t{1} << 32));
  ChunkRange* ranges = chunk_ranges_.get();
  const auto pack = [](uint64_t front, uint64_t back) { return front | back << 32; };
  for (int i = 0; i < n_threads_; ++i) {
    ranges[i].bounds.store(pack(static_cast<uint64_t>(n_chunks * i / n_threads_),
                         static_cast<uint64_t>(n_chunks * (i + 1) / n_threads_)),
                    std::memory_order_relaxed);
  }
  const auto take = [&](std::atomic<uint64_t>& range, bool from_front) -> int64_t {
    uint64_t bounds = range.load(std::memory_order_relaxed);
    while (true) {
      const uint64_t front = bounds & 0xffffffffu, back = bounds >> 32;
      if (front >= back) return -1;
      const uint64_t taken = from_front ? pack(front + 1, back) : pack(front, back - 1);
      if (range.compare_exchange_weak(bounds, taken, std::memory_order_relaxed)) {
        return static_cast<int64_t>(from_front ? front : back - 1);
      }
    }
  };
  parallel_for(n_threads_, [&](int64_t, int64_t, int thread) {
    const auto run = [&](int64_t c) { fn(c * chunk, std::min(n, (c + 1) * chunk), thread); };
    for (int64_t c = take(ranges[thread].bounds, true); c >= 0; c = take(ranges[thread].bounds, true)) run(c);
    for (int other = 1; other < n_threads_; ++other) {
      auto& range = ranges[(thread + other) % n_threads_].bounds;
      for (int64_t c = take(range, false); c >= 0; c = take(range, false)) run(c);
    }
  });
}

}  // namespace sluice::ops
