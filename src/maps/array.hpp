// Internal: array and per-CPU array maps (array.cpp).
#pragma once

#include "maps/map_impl.hpp"

namespace xbpf::maps::detail {

class ArrayMap : public ShmMap {
 public:
  explicit ArrayMap(MapContext&& ctx);
  void* lookup_elem(const void* key) noexcept override;
  void* lookup_percpu_elem(const void* key, uint32_t cpu) noexcept override;
  long update_elem(const void* key, const void* value, uint64_t flags) noexcept override;
  long delete_elem(const void* key) noexcept override;
  [[nodiscard]] Expected<void> lookup(const void* key, void* value, uint64_t flags) override;
  [[nodiscard]] Expected<void> update(const void* key, const void* value, uint64_t flags) override;
  [[nodiscard]] Expected<void> remove(const void* key) override;
  [[nodiscard]] Expected<void> get_next_key(const void* key, void* next_key) override;
  [[nodiscard]] ArrayLayout array_layout() noexcept override;
  [[nodiscard]] ArrayLayout percpu_layout() noexcept override;

 protected:
  [[nodiscard]] uint8_t* slot(uint32_t i, uint32_t cpu) const noexcept {
    return storage_ + (uint64_t{i} * ncpus_ + cpu) * stride_;
  }
  uint32_t stride_ = 0;
  uint32_t ncpus_ = 1;
};

}  // namespace xbpf::maps::detail
