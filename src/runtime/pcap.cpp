// Pcap input for test runs (libpcap's offline reader).
#include <pcap/pcap.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "runtime/test_run.hpp"

namespace xbpf::runtime {

Expected<uint64_t> for_each_packet(const std::string& path, const PacketFn& each, const PcapProgress& progress) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  // (libpcap's message names the file when the open itself failed)
  if (!p) return fail(Errc::io, "{}", std::string_view(err).find(path) != std::string_view::npos ? std::string(err) : path + ": " + err);
  struct stat st{};
  const double file_size = stat(path.c_str(), &st) == 0 && st.st_size > 0 ? double(st.st_size) : 0;
  uint64_t packets = 0;
  pcap_pkthdr* hdr = nullptr;
  const u_char* bytes = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p, &hdr, &bytes)) == 1) {
    if (auto r = each(std::span<const uint8_t>(bytes, hdr->caplen)); !r) {
      pcap_close(p);
      return xbpf::unexpected(with_context(r.error(), fmt::format("{}: packet {}", path, packets + 1)));
    }
    ++packets;
    if (progress && packets % 1024 == 0) {
      const long at = file_size > 0 ? ftell(pcap_file(p)) : -1;
      progress(packets, at >= 0 ? std::min(1.0, double(at) / file_size) : 0.0);
    }
  }
  if (rc == PCAP_ERROR) {
    std::string msg = pcap_geterr(p);
    pcap_close(p);
    return fail(Errc::io, "{}: {}", path, msg);
  }
  pcap_close(p);
  return packets;
}

Expected<PcapRunSummary> run_pcap(const Program& prog, const std::string& path, TestRun opts, bool keep_results,
                                  const PcapProgress& progress) {
  PcapRunSummary sum;
  auto n = for_each_packet(
      path,
      [&](std::span<const uint8_t> packet) -> Expected<void> {
        opts.data_in = packet;
        auto r = test_run(prog, opts);
        if (!r) return xbpf::unexpected(r.error());
        ++sum.packets;
        ++sum.verdicts[r->retval];
        if (keep_results) sum.results.push_back(std::move(*r));
        return {};
      },
      progress);
  if (!n) return xbpf::unexpected(n.error());
  return sum;
}

}  // namespace xbpf::runtime
