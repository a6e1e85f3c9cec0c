// An AF_XDP socket map with BTF (key and value types), for `xbpf map dump`
// in its BTF layout: the entries user space cannot read are listed with the
// lookup's error, not skipped (map_cli_test.BtfXskmapDumpListsUnreadableKeys).
#include "bpf_defs.h"

#define BPF_MAP_TYPE_XSKMAP 17
#define XDP_PASS 2

static long (*bpf_redirect_map)(void* map, __u64 key, __u64 flags) = (void*)51;

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __type(key, __u32);
  __type(value, __u32);
  __uint(max_entries, 2);
} xsks SEC(".maps");

SEC("xdp")
int entry(void* ctx) {
  return bpf_redirect_map(&xsks, 0, XDP_PASS);  // no socket: the flags' action
}

char _license[] SEC("license") = "GPL";
