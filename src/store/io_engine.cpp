#include "store/io_engine.h"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fmt/format.h>
#include <mutex>
#include <thread>

#include "util/error.h"

namespace sluice::store {
namespace {

// A read in progress; long reads that come back short are resumed from `done`.
struct InFlightRead {
  ReadRequest request;
  uint64_t done = 0;
};

ReadCompletion completion_of(const ReadRequest& r, int error, bool short_read) {
  return {r.tag, error, short_read, r.offset, r.length};
}

// Owns the descriptor and the fault hook shared by both engines.
class FileReader {
 public:
  FileReader(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
    direct_ = fd_ >= 0;
    if (fd_ < 0) fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // tmpfs and friends
    if (fd_ < 0) throw Error(fmt::format("cannot open '{}' for expert reads: {}", path, std::strerror(errno)));
  }
  ~FileReader() { ::close(fd_); }
  int fd() const { return fd_; }
  bool direct() const { return direct_; }

 private:
  int fd_ = -1;
  bool direct_ = false;
};

class UringEngine : public IoEngine {
 public:
  UringEngine(const std::string& path, unsigned depth) : file_(path), depth_(depth) {
    const int rc = io_uring_queue_init(depth, &ring_, 0);
    if (rc < 0) throw Error(fmt::format("io_uring unavailable: {}", std::strerror(-rc)));
    slots_.resize(depth);
    for (unsigned i = 0; i < depth; ++i) free_slots_.push_back(depth - 1 - i);
  }
  ~UringEngine() override {
    std::vector<ReadCompletion> drain;
    while (in_flight() > 0) reap(drain, true);
    io_uring_queue_exit(&ring_);
  }

  std::string description() const override {
    return fmt::format("io_uring (queue depth {}), {}", depth_, file_.direct() ? "O_DIRECT" : "buffered");
  }

  void submit(std::span<const ReadRequest> requests) override {
    for (const ReadRequest& r : requests) waiting_.push_back({r, 0});
    issue();
  }

  size_t reap(std::vector<ReadCompletion>& done, bool wait) override {
    const size_t start = done.size();
    done.insert(done.end(), failed_early_.begin(), failed_early_.end());
    failed_early_.clear();
    io_uring_cqe* cqe = nullptr;
    bool may_block = wait && done.size() == start;
    while (outstanding_ > 0) {
      const int rc = may_block ? io_uring_wait_cqe(&ring_, &cqe) : io_uring_peek_cqe(&ring_, &cqe);
      if (rc == -EINTR) continue;
      if (rc < 0 || cqe == nullptr) break;
      const auto slot = static_cast<unsigned>(io_uring_cqe_get_data64(cqe));
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      --outstanding_;
      InFlightRead& read = slots_[slot];
      if (res < 0) {
        done.push_back(completion_of(read.request, -res, false));
      } else if (res == 0) {  // end of file
        done.push_back(completion_of(read.request, 0, read.done < read.request.required));
      } else {
        read.done += static_cast<uint64_t>(res);
        if (read.done < read.request.length) {  // short read mid-file: resume it
          waiting_.push_front(read);
        } else {
          done.push_back(completion_of(read.request, 0, false));
        }
      }
      free_slots_.push_back(slot);
      may_block = false;
    }
    issue();
    return done.size() - start;
  }

  size_t in_flight() const override { return outstanding_ + waiting_.size() + failed_early_.size(); }

 private:
  void issue() {
    bool queued = false;
    while (!waiting_.empty() && !free_slots_.empty()) {
      InFlightRead read = waiting_.front();
      waiting_.pop_front();
      const ReadRequest& r = read.request;
      if (fault_hook_ && read.done == 0) {
        if (const int fault = fault_hook_(r.offset, r.length); fault != 0) {
          failed_early_.push_back(completion_of(r, fault > 0 ? fault : 0, fault < 0));
          continue;
        }
      }
      const unsigned slot = free_slots_.back();
      free_slots_.pop_back();
      slots_[slot] = read;
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      SLUICE_ASSERT(sqe != nullptr);
      io_uring_prep_read(sqe, file_.fd(), static_cast<char*>(r.destination) + read.done,
                         static_cast<unsigned>(r.length - read.done), r.offset + read.done);
      io_uring_sqe_set_data64(sqe, slot);
      ++outstanding_;
      queued = true;
    }
    if (queued) io_uring_submit(&ring_);
  }

  FileReader file_;
  unsigned depth_;
  io_uring ring_{};
  std::vector<InFlightRead> slots_;
  std::vector<unsigned> free_slots_;
  std::deque<InFlightRead> waiting_;
  std::vector<ReadCompletion> failed_early_;
  size_t outstanding_ = 0;
};

class ThreadEngine : public IoEngine {
 public:
  ThreadEngine(const std::string& path, unsigned n_threads) : file_(path), n_threads_(n_threads) {
    for (unsigned i = 0; i < n_threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~ThreadEngine() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    queued_cv_.notify_all();
    for (auto& w : workers_) w.join();
  }

  std::string description() const override {
    return fmt::format("pread x{} threads, {}", n_threads_, file_.direct() ? "O_DIRECT" : "buffered");
  }

  void submit(std::span<const ReadRequest> requests) override {
    {
      std::lock_guard lock(mutex_);
      for (const ReadRequest& r : requests) queue_.push_back(r);
      outstanding_ += requests.size();
    }
    queued_cv_.notify_all();
  }

  size_t reap(std::vector<ReadCompletion>& done, bool wait) override {
    std::unique_lock lock(mutex_);
    if (wait && outstanding_ > 0) finished_cv_.wait(lock, [&] { return !finished_.empty(); });
    const size_t n = finished_.size();
    done.insert(done.end(), finished_.begin(), finished_.end());
    outstanding_ -= n;
    finished_.clear();
    return n;
  }

  size_t in_flight() const override {
    std::lock_guard lock(mutex_);
    return outstanding_;
  }

 private:
  ReadCompletion read_one(const ReadRequest& r) {
    if (fault_hook_) {
      if (const int fault = fault_hook_(r.offset, r.length); fault != 0) {
        return completion_of(r, fault > 0 ? fault : 0, fault < 0);
      }
    }
    uint64_t done = 0;
    while (done < r.length) {
      const ssize_t got = ::pread(file_.fd(), static_cast<char*>(r.destination) + done,
                                  r.length - done, static_cast<off_t>(r.offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return completion_of(r, errno, false);
      if (got == 0) return completion_of(r, 0, done < r.required);
      done += static_cast<uint64_t>(got);
    }
    return completion_of(r, 0, false);
  }

  void work() {
    while (true) {
      ReadRequest request;
      {
        std::unique_lock lock(mutex_);
        queued_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        request = queue_.front();
        queue_.pop_front();
      }
      const ReadCompletion c = read_one(request);
      {
        std::lock_guard lock(mutex_);
        finished_.push_back(c);
      }
      finished_cv_.notify_one();
    }
  }

  FileReader file_;
  unsigned n_threads_;
  mutable std::mutex mutex_;
  std::condition_variable queued_cv_, finished_cv_;
  std::deque<ReadRequest> queue_;
  std::vector<ReadCompletion> finished_;
  size_t outstanding_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<IoEngine> make_io_engine(const std::string& path, IoEngineKind kind,
                                         unsigned queue_depth) {
  if (kind != IoEngineKind::kThreads) {
    try {
      return std::make_unique<UringEngine>(path, queue_depth);
    } catch (const Error&) {
      if (kind == IoEngineKind::kUring) throw;
    }
  }
  return std::make_unique<ThreadEngine>(path, 4);
}

}  // namespace sluice::store
