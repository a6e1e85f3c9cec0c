#include <sched.h>

#include "vm/vm.hpp"

namespace xbpf::vm {

uint32_t current_cpu(uint32_t ncpus) noexcept {
  // glibc 2.35+ answers from the thread's rseq area: no system call.
  const int c = sched_getcpu();
  return c < 0 || ncpus == 0 ? 0 : uint32_t(c) % ncpus;
}

void HelperTable::set(uint32_t id, HelperFn fn, std::string name) {
  if (id >= fns_.size()) {
    fns_.resize(id + 1, nullptr);
    names_.resize(id + 1);
  }
  fns_[id] = fn;
  names_[id] = std::move(name);
}

std::string_view HelperTable::name(uint32_t id) const {
  return id < names_.size() ? std::string_view(names_[id]) : std::string_view();
}

namespace {
// bpf_conformance's runtimes register helper 5 (an "unwind" helper in uBPF);
// the suite only needs it to return normally, so it returns its argument.
uint64_t conformance_helper5(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
  return r1;
}
}  // namespace

const HelperTable& conformance_helpers() {
  static const HelperTable table = [] {
    HelperTable t;
    t.set(5, conformance_helper5, "conformance_unwind");
    return t;
  }();
  return table;
}

}  // namespace xbpf::vm
