// Executable memory with W^X discipline: no mapping is ever writable and
// executable at once.
//
// Small programs go to a shared "pack" (the kernel's bpf_prog_pack): a
// memfd mapped read+execute once, carved into page-aligned ranges. Code is
// written with pwrite() on the memfd (the kernel's text_poke writes through
// a temporary alias the same way), so installing a program changes no page
// protection: on the reference VM removing write permission from a page
// (mprotect to read+execute) costs ~50-130 us for its TLB flush, a pwrite of
// a few KiB ~2 us. Free ranges of a pack hold int3 only (a released
// program's range is overwritten with int3 before it is reused). After
// fork() the child gets private read+execute copies of the packs (so neither
// process can write the other's code) and starts new packs of its own.
//
// Where memfds cannot be mapped executable (vm.memfd_noexec, LSMs), for big
// programs, or with XBPF_JIT_NO_PACK set: pages are mapped read+write, filled,
// then mprotected read+execute once; when the owner is destroyed they are
// made read+write again and kept in a bounded process-wide pool for the next
// compile, or unmapped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "support/error.hpp"

namespace xbpf::jit {

class CodeMemory {
 public:
  // Reserves `size` bytes (rounded up to pages, page aligned), preferably
  // within 2 GiB of `near` (so calls from the code to it can be rel32); the
  // kernel may place it anywhere. Errors carry errno.
  [[nodiscard]] static Expected<CodeMemory> allocate(size_t size, const void* near = nullptr);

  // The address the code will run at. Not writable: install() writes it.
  [[nodiscard]] uint8_t* data() const { return data_; }
  [[nodiscard]] size_t size() const { return size_; }      // usable bytes (as asked)
  [[nodiscard]] size_t mapped() const { return mapped_; }  // whole pages
  [[nodiscard]] bool sealed() const { return sealed_; }
  [[nodiscard]] bool packed() const { return pack_ != nullptr; }
  [[nodiscard]] std::span<const uint8_t> bytes() const { return {data_, size_}; }

  // Puts `image` (at most size() bytes) at data() and leaves the memory
  // read+execute only; the rest of the pages reads as int3. Once.
  [[nodiscard]] Expected<void> install(std::span<const uint8_t> image);

  CodeMemory() = default;
  CodeMemory(CodeMemory&& o) noexcept;
  CodeMemory& operator=(CodeMemory&& o) noexcept;
  CodeMemory(const CodeMemory&) = delete;
  CodeMemory& operator=(const CodeMemory&) = delete;
  ~CodeMemory();

  struct Pack;  // code_memory.cpp

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
  bool sealed_ = false;
  Pack* pack_ = nullptr;  // null: a mapping of its own
};

}  // namespace xbpf::jit
