// Executable memory with W^X discipline: pages are mapped read+write (never
// executable) while code is copied in, then switched to read+execute (never
// writable) once. When the owner is destroyed the pages stop being
// executable: they are made read+write again and kept in a bounded
// process-wide pool for the next compile (page faults on fresh pages cost
// more than the compile itself on virtual machines), or unmapped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "support/error.hpp"

namespace xbpf::jit {

class CodeMemory {
 public:
  // Maps `size` bytes (rounded up to pages) read+write, preferably within
  // 2 GiB of `near` (so calls from the code to it can be rel32); the kernel
  // may place it anywhere. Errors carry errno.
  [[nodiscard]] static Expected<CodeMemory> allocate(size_t size, const void* near = nullptr);

  // Writable until seal(); afterwards the pages are read+execute only.
  [[nodiscard]] uint8_t* data() const { return data_; }
  [[nodiscard]] size_t size() const { return size_; }  // usable bytes (as asked)
  [[nodiscard]] size_t mapped() const { return mapped_; }  // whole pages
  [[nodiscard]] bool sealed() const { return sealed_; }
  [[nodiscard]] std::span<const uint8_t> bytes() const { return {data_, size_}; }

  // Read+write -> read+execute, once, after the code is in place; the bytes
  // after size() are filled with int3 first.
  [[nodiscard]] Expected<void> seal();

  CodeMemory() = default;
  CodeMemory(CodeMemory&& o) noexcept;
  CodeMemory& operator=(CodeMemory&& o) noexcept;
  CodeMemory(const CodeMemory&) = delete;
  CodeMemory& operator=(const CodeMemory&) = delete;
  ~CodeMemory();

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
  bool sealed_ = false;
};

}  // namespace xbpf::jit
