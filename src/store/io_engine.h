// Asynchronous reads of expert bytes from the model file.
//
// Two engines behind one interface: io_uring (deep queues, the SSD sees every read of a
// layer at once) and a pool of threads calling pread, for systems where io_uring is missing
// or refused. Reads target aligned memory so that an O_DIRECT descriptor can be used: the
// page cache is bypassed and the memory budget stays honest.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sluice::store {

struct ReadRequest {
  uint64_t offset = 0;  // in the file
  uint64_t length = 0;    // bytes asked for (aligned for O_DIRECT)
  uint64_t required = 0;  // bytes that must arrive; fewer means the file ended early
  void* destination = nullptr;
  uint64_t tag = 0;       // returned with the completion
};

struct ReadCompletion {
  uint64_t tag = 0;
  int error = 0;            // 0, or the errno of the failed read
  bool short_read = false;  // the file ended before the requested bytes (truncated file)
  uint64_t offset = 0;      // of the request, for error messages
  uint64_t length = 0;
};

// Test hook: called before each read is issued; a non-zero return fails that read with it
// as the errno (e.g. EIO), a negative return makes it a short read.
using ReadFaultHook = std::function<int(uint64_t offset, uint64_t length)>;

class IoEngine {
 public:
  virtual ~IoEngine() = default;
  // "io_uring, O_DIRECT" or "pread x4 threads, buffered": what was chosen, for the report.
  virtual std::string description() const = 0;
  // Queues the reads and returns at once.
  virtual void submit(std::span<const ReadRequest> requests) = 0;
  // Appends finished reads to `done`; blocks until at least one finishes when `wait` is true
  // and reads are outstanding. Returns the number appended.
  virtual size_t reap(std::vector<ReadCompletion>& done, bool wait) = 0;
  virtual size_t in_flight() const = 0;
  void set_fault_hook(ReadFaultHook hook) { fault_hook_ = std::move(hook); }

 protected:
  ReadFaultHook fault_hook_;
};

enum class IoEngineKind { kAuto, kUring, kThreads };

// Opens `path` for expert reads (O_DIRECT when the file system allows it) and builds the
// engine `kind` asks for; kAuto takes io_uring when the kernel grants a ring.
std::unique_ptr<IoEngine> make_io_engine(const std::string& path, IoEngineKind kind,
                                         unsigned queue_depth);

// Alignment that O_DIRECT offsets, lengths and buffers must respect.
inline constexpr uint64_t kDirectIoAlignment = 4096;

}  // namespace sluice::store
