// Pcap input for test runs (libpcap's offline reader).
#include <pcap/pcap.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "runtime/test_run.hpp"

namespace xbpf::runtime {

Expected<PcapRunSummary> run_pcap(const Program& prog, const std::string& path, TestRun opts, bool keep_results,
                                  const PcapProgress& progress) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (!p) return fail(Errc::io, "{}: {}", path, err);
  struct stat st{};
  const double file_size = stat(path.c_str(), &st) == 0 && st.st_size > 0 ? double(st.st_size) : 0;
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
    if (progress && sum.packets % 1024 == 0) {
      const long at = file_size > 0 ? ftell(pcap_file(p)) : -1;
      progress(sum.packets, at >= 0 ? std::min(1.0, double(at) / file_size) : 0.0);
    }
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
