#include "kabi/kernel_types.hpp"

#include <array>
#include <utility>

namespace xbpf::kabi {
namespace {

template <class E>
struct Named {
  E value;
  std::string_view name;
};

constexpr Named<ProgType> kProgTypes[] = {
#define XBPF_X(n, v, s) {ProgType::n, s},
    XBPF_PROG_TYPES(XBPF_X)
#undef XBPF_X
};
constexpr Named<AttachType> kAttachTypes[] = {
#define XBPF_X(n, v, s) {AttachType::n, s},
    XBPF_ATTACH_TYPES(XBPF_X)
#undef XBPF_X
};
constexpr Named<MapType> kMapTypes[] = {
#define XBPF_X(n, v, s) {MapType::n, s},
    XBPF_MAP_TYPES(XBPF_X)
#undef XBPF_X
};

// The tables list every value from 0 upwards without gaps, so a value is its
// own index; checked at compile time so that a typo in the .def fails the build.
template <class E, size_t N>
constexpr bool dense(const Named<E> (&table)[N]) {
  for (size_t i = 0; i < N; ++i)
    if (static_cast<size_t>(table[i].value) != i) return false;
  return true;
}
static_assert(dense(kProgTypes) && dense(kAttachTypes) && dense(kMapTypes));

template <class E, size_t N>
std::string_view lookup(const Named<E> (&table)[N], E v) {
  auto i = static_cast<size_t>(v);
  return i < N ? table[i].name : std::string_view{};
}

template <class E, size_t N>
std::optional<E> reverse(const Named<E> (&table)[N], std::string_view s) {
  for (const auto& e : table)
    if (e.name == s) return e.value;
  return std::nullopt;
}

}  // namespace

std::string_view name(ProgType t) { return lookup(kProgTypes, t); }
std::string_view name(AttachType t) { return lookup(kAttachTypes, t); }
std::string_view name(MapType t) { return lookup(kMapTypes, t); }

std::optional<ProgType> prog_type_from_name(std::string_view s) { return reverse(kProgTypes, s); }
std::optional<AttachType> attach_type_from_name(std::string_view s) { return reverse(kAttachTypes, s); }
std::optional<MapType> map_type_from_name(std::string_view s) { return reverse(kMapTypes, s); }

}  // namespace xbpf::kabi
