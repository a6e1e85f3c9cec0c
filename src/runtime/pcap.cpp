// Pcap input for test runs (libpcap's offline reader).
#include <pcap/pcap.h>

#include "runtime/test_run.hpp"

namespace xbpf::runtime {

Expected<PcapRunSummary> run_pcap(const Program& prog, const std::string& path, TestRun opts, bool keep_results) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (!p) return fail(Errc::io, "{}: {}", path, err);
  PcapRunSummary sum;
  pcap_pkthdr* hdr = nullptr;
  const u_char* bytes = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p, &hdr, &bytes)) == 1) {
    opts.data_in = std::span<const uint8_t>(bytes, hdr->caplen);
    auto r = test_run(prog, opts);
    if (!r) {
      pcap_close(p);
      return xbpf::unexpected(with_context(r.error(), fmt::format("{}: packet {}", path, sum.packets + 1)));
    }
    ++sum.packets;
    ++sum.verdicts[r->retval];
    if (keep_results) sum.results.push_back(std::move(*r));
  }
  if (rc == PCAP_ERROR) {
    std::string msg = pcap_geterr(p);
    pcap_close(p);
    return fail(Errc::io, "{}: {}", path, msg);
  }
  pcap_close(p);
  return sum;
}

}  // namespace xbpf::runtime
