// A minimal expected<T, E> (the subset of C++23 std::expected that xbpf uses).
// Ours rather than std's because clang 14/16 cannot compile libstdc++ 12's
// <expected>, and the fuzzers must be built with clang (libFuzzer).
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace xbpf {

template <class E>
class Unexpected {
 public:
  explicit Unexpected(E e) : e_(std::move(e)) {}
  [[nodiscard]] E& error() & { return e_; }
  [[nodiscard]] E&& error() && { return std::move(e_); }

 private:
  E e_;
};

template <class E>
[[nodiscard]] Unexpected<E> unexpected(E e) {
  return Unexpected<E>(std::move(e));
}

template <class T, class E>
class [[nodiscard]] BasicExpected {
 public:
  BasicExpected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
  template <class U = T>
    requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, BasicExpected>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, Unexpected<E>>)
  BasicExpected(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}
  template <class G>
  BasicExpected(Unexpected<G> u) : v_(std::in_place_index<1>, std::move(u).error()) {}

  [[nodiscard]] bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  [[nodiscard]] T& value() & { assert(has_value()); return *std::get_if<0>(&v_); }
  [[nodiscard]] const T& value() const& { assert(has_value()); return *std::get_if<0>(&v_); }
  [[nodiscard]] T&& value() && { assert(has_value()); return std::move(*std::get_if<0>(&v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  [[nodiscard]] const E& error() const& { assert(!has_value()); return *std::get_if<1>(&v_); }
  [[nodiscard]] E&& error() && { assert(!has_value()); return std::move(*std::get_if<1>(&v_)); }
  template <class U>
  [[nodiscard]] T value_or(U&& other) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(other));
  }

 private:
  std::variant<T, E> v_;
};

// expected<void, E>: success carries no value.
template <class E>
class [[nodiscard]] BasicExpected<void, E> {
 public:
  BasicExpected() = default;
  template <class G>
  BasicExpected(Unexpected<G> u) : err_(std::move(u).error()), ok_(false) {}
  [[nodiscard]] bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  [[nodiscard]] const E& error() const& { assert(!ok_); return err_; }

 private:
  E err_{};
  bool ok_ = true;
};

}  // namespace xbpf
