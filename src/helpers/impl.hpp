// Internal: declarations of the helper implementations the table in
// table.cpp lists, and the fault-safe memory primitives they share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "helpers/run_state.hpp"
#include "vm/vm.hpp"

namespace xbpf::helpers::impl {

#define XBPF_HELPER(fn) \
  uint64_t fn(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, vm::ExecContext* c)

// maps.cpp
XBPF_HELPER(map_lookup_elem);
XBPF_HELPER(map_update_elem);
XBPF_HELPER(map_delete_elem);
XBPF_HELPER(map_push_elem);
XBPF_HELPER(map_pop_elem);
XBPF_HELPER(map_peek_elem);
XBPF_HELPER(map_lookup_percpu_elem);
XBPF_HELPER(spin_lock);
XBPF_HELPER(spin_unlock);
XBPF_HELPER(loop);
XBPF_HELPER(for_each_map_elem);
// misc.cpp
XBPF_HELPER(ktime_get_ns);
XBPF_HELPER(ktime_get_boot_ns);
XBPF_HELPER(ktime_get_coarse_ns);
XBPF_HELPER(get_prandom_u32);
XBPF_HELPER(get_smp_processor_id);
XBPF_HELPER(get_current_pid_tgid);
XBPF_HELPER(get_current_uid_gid);
XBPF_HELPER(get_current_comm);
XBPF_HELPER(get_stack);
XBPF_HELPER(get_stackid);
XBPF_HELPER(get_func_ip);
XBPF_HELPER(get_attach_cookie);
XBPF_HELPER(perf_event_output);
// memory.cpp
XBPF_HELPER(probe_read_user);
XBPF_HELPER(probe_read_user_str);
XBPF_HELPER(probe_read_kernel);
XBPF_HELPER(probe_read_kernel_str);
XBPF_HELPER(probe_write_user);
XBPF_HELPER(strncmp);
XBPF_HELPER(strtol);
XBPF_HELPER(strtoul);
// format.cpp
XBPF_HELPER(trace_printk);
XBPF_HELPER(snprintf);
// packet.cpp
XBPF_HELPER(xdp_adjust_head);
XBPF_HELPER(xdp_adjust_tail);
XBPF_HELPER(xdp_adjust_meta);
XBPF_HELPER(skb_load_bytes);
XBPF_HELPER(skb_store_bytes);
XBPF_HELPER(l3_csum_replace);
XBPF_HELPER(l4_csum_replace);
XBPF_HELPER(csum_diff);
XBPF_HELPER(redirect);
XBPF_HELPER(redirect_map);
XBPF_HELPER(get_hash_recalc);
XBPF_HELPER(set_hash);
XBPF_HELPER(set_hash_invalid);
XBPF_HELPER(skb_change_tail);
XBPF_HELPER(skb_pull_data);
XBPF_HELPER(skb_change_type);
XBPF_HELPER(skb_adjust_room);
XBPF_HELPER(skb_change_proto);
XBPF_HELPER(skb_change_head);
XBPF_HELPER(skb_vlan_push);
XBPF_HELPER(skb_vlan_pop);
// route.cpp
XBPF_HELPER(fib_lookup);
XBPF_HELPER(redirect_neigh);
XBPF_HELPER(redirect_peer);
// tunnel.cpp
XBPF_HELPER(skb_get_tunnel_key);
XBPF_HELPER(skb_set_tunnel_key);
XBPF_HELPER(skb_get_tunnel_opt);
XBPF_HELPER(skb_set_tunnel_opt);
// ringbuf.cpp
XBPF_HELPER(ringbuf_output);
XBPF_HELPER(ringbuf_reserve);
XBPF_HELPER(ringbuf_submit);
XBPF_HELPER(ringbuf_discard);
XBPF_HELPER(ringbuf_query);
// socket.cpp
XBPF_HELPER(sk_lookup);  // sk_lookup_tcp, sk_lookup_udp, skc_lookup_tcp
XBPF_HELPER(sk_release);
XBPF_HELPER(sk_assign);
XBPF_HELPER(get_netns_cookie);

// Copies n bytes from an arbitrary address of this process without ever
// faulting (process_vm_readv on ourselves). False when any byte is unmapped.
[[nodiscard]] bool safe_read(void* dst, uint64_t src, size_t n);
// Copies a NUL-terminated string of at most n-1 characters (n > 0) and
// terminates it. Returns the length including the NUL, or -EFAULT.
[[nodiscard]] long safe_read_str(char* dst, uint64_t src, size_t n);
// Writes n bytes to an arbitrary address without faulting (process_vm_writev).
[[nodiscard]] bool safe_write(uint64_t dst, const void* src, size_t n);

// Formats `fmt` with the kernel's bpf_trace_printk / bpf_snprintf subset.
// Returns the text or a negative errno (-EINVAL for a bad format).
struct Formatted {
  long err = 0;
  std::string text;
};
[[nodiscard]] Formatted format(std::string_view fmt, const uint64_t* args, size_t nargs);

}  // namespace xbpf::helpers::impl
