// `xbpf help [COMMAND [VERB]]`: the manual pages, and `xbpf __complete`
// (hidden): completion candidates for scripts/xbpf-completion.bash.
//
// The pages are tools/xbpf/help/<command>.txt, compiled in as raw string
// literals (embed_help.cmake generates help_pages.inc). Their layout is the
// contract this file reads:
//   - section headings (NAME, SYNOPSIS, DESCRIPTION, ...) start in column 0;
//   - NAME's line is "    xbpf COMMAND - one-line summary" (the list `xbpf help` prints);
//   - in DESCRIPTION, a verb's paragraph starts with lines indented by exactly
//     four spaces that read "xbpf COMMAND VERB ..." or "xbpf COMMAND { VERB | VERB } ...",
//     and its text is indented further. `xbpf help COMMAND VERB` prints those
//     paragraphs; the tests check every verb of the CLI has one.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "complete.hpp"
#include "maps/store.hpp"

namespace xbpf::cli {
namespace {

struct Page {
  std::string_view name, text;
};
constexpr Page kPages[] = {
#include "help_pages.inc"
};

const Page* find_page(std::string_view name) {
  for (const Page& p : kPages)
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return out;
}

size_t indent(std::string_view line) {
  const size_t n = line.find_first_not_of(' ');
  return n == std::string_view::npos ? SIZE_MAX : n;  // blank lines: "infinitely" indented
}

// The summary after "xbpf COMMAND - " on NAME's line.
std::string summary(const Page& p) {
  const auto lines = lines_of(p.text);
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i] != "NAME") continue;
    const std::string_view l = lines[i + 1];
    const size_t dash = l.find(" - ");
    return dash == std::string_view::npos ? std::string() : std::string(l.substr(dash + 3));
  }
  return {};
}

// The verbs a DESCRIPTION header line names ("xbpf map { pop | dequeue } MAP"
// names pop and dequeue); none for a line that is not a header of `command`.
std::vector<std::string> header_verbs(std::string_view line, std::string_view command) {
  if (indent(line) != 4) return {};
  std::istringstream in{std::string(line)};
  std::string xbpf, cmd, word;
  if (!(in >> xbpf >> cmd) || xbpf != "xbpf" || cmd != command || !(in >> word)) return {};
  std::vector<std::string> words;
  if (word == "{") {
    while (in >> word && word != "}")
      if (word != "|") words.push_back(word);
  } else {
    words.push_back(word);
  }
  std::vector<std::string> verbs;
  for (const auto& w : words)
    if (!w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos) verbs.push_back(w);
  return verbs;
}

// DESCRIPTION's lines.
std::vector<std::string_view> description(const Page& p) {
  std::vector<std::string_view> out;
  bool in = false;
  for (std::string_view l : lines_of(p.text)) {
    if (indent(l) == 0) in = l == "DESCRIPTION";
    else if (in) out.push_back(l);
  }
  return out;
}

std::vector<std::string> verbs_of(const Page& p) {
  std::vector<std::string> out;
  for (std::string_view l : description(p))
    for (auto& v : header_verbs(l, p.name))
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  return out;
}

// The paragraphs of `verb` (its header lines and the text under them).
std::string verb_text(const Page& p, std::string_view verb) {
  std::string out;
  bool in = false;
  for (std::string_view l : description(p)) {
    if (indent(l) == 4) {
      const auto vs = header_verbs(l, p.name);  // any other 4-space line ends a paragraph
      in = std::find(vs.begin(), vs.end(), verb) != vs.end();
    }
    if (in) out.append(l).append("\n");
  }
  while (out.ends_with("\n\n")) out.pop_back();
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& w : v) s += (s.empty() ? "" : ", ") + w;
  return s;
}

std::vector<std::string> page_names() {
  std::vector<std::string> out;
  for (const Page& p : kPages) out.emplace_back(p.name);
  return out;
}

std::string command_list() {
  std::string s =
      "xbpf: eBPF in user space. 'xbpf help COMMAND' prints a command's manual page,\n"
      "'xbpf help COMMAND VERB' one verb of it.\n\nCommands:\n";
  for (const Page& p : kPages) s += fmt::format("    {:<13} {}\n", p.name, summary(p));
  s += "\nBash completion: source scripts/xbpf-completion.bash\n";
  return s;
}

bool in_path(const std::string& prog) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && access((d + "/" + prog).c_str(), X_OK) == 0) return true;
  return false;
}

// Through $PAGER (else less) when stdout is a terminal; plain otherwise or
// when the pager cannot be started.
void print_page(const std::string& text) {
  if (isatty(STDOUT_FILENO)) {
    const char* env = std::getenv("PAGER");
    std::string pager = env ? env : "";
    if (pager.empty() && in_path("less")) pager = "less";
    if (!pager.empty()) {
      setenv("LESS", "FRX", 0);  // less: quit at once when the page fits the screen
      signal(SIGPIPE, SIG_IGN);  // the user may quit before the end
      std::fflush(stdout);
      if (FILE* p = popen(pager.c_str(), "w")) {
        std::fwrite(text.data(), 1, text.size(), p);
        if (pclose(p) == 0) return;
      }
    }
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
}

int run_help(const std::vector<std::string>& topic) {
  if (topic.empty()) {
    std::fputs(command_list().c_str(), stdout);
    return 0;
  }
  const Page* p = find_page(topic[0]);
  if (!p) {
    std::fprintf(stderr, "xbpf help: no help for '%s' (commands: %s)\n", topic[0].c_str(), join(page_names()).c_str());
    return 1;
  }
  if (topic.size() == 1) {
    print_page(std::string(p->text));
    return 0;
  }
  const std::string text = verb_text(*p, topic[1]);
  if (text.empty()) {
    const auto verbs = verbs_of(*p);
    std::fprintf(stderr, "xbpf help: no help for '%s %s' (%s)\n", topic[0].c_str(), topic[1].c_str(),
                 verbs.empty() ? (topic[0] + " has no verbs").c_str() : (topic[0] + " verbs: " + join(verbs)).c_str());
    return 1;
  }
  print_page(text + fmt::format("\nOptions, exit status and examples: xbpf help {}\n", topic[0]));
  return 0;
}

// `xbpf __complete CWORD WORDS...`: candidates one a line. Exit status 0 with
// no output: a file name is expected here (the script completes it); 1: nothing
// to offer. Never prints to stderr.
int run_complete(const CLI::App& app, const std::vector<std::string>& args) {
  if (args.empty()) return 1;
  char* end = nullptr;
  const unsigned long cword = std::strtoul(args[0].c_str(), &end, 10);
  if (args[0].empty() || *end) return 1;
  const std::vector<std::string> words(args.begin() + 1, args.end());
  const Completion c = complete(app, cword, words, maps::Store::default_dir());
  for (const auto& w : c.words) std::printf("%s\n", w.c_str());
  return c.words.empty() && !c.file ? 1 : 0;
}

}  // namespace

std::vector<std::string> help_topics() { return page_names(); }

std::vector<std::string> help_verbs(const std::string& topic) {
  const Page* p = find_page(topic);
  return p ? verbs_of(*p) : std::vector<std::string>{};
}

void add_help_commands(CLI::App& app, int& exit_code) {
  auto topic = std::make_shared<std::vector<std::string>>();
  auto* help = app.add_subcommand("help", "Manual pages: 'xbpf help', 'xbpf help prog', 'xbpf help prog load'");
  help->add_option("topic", *topic, "COMMAND [VERB]")->expected(0, 2);
  help->callback([topic, &exit_code] { exit_code = run_help(*topic); });

  auto* comp = app.add_subcommand("__complete", "Completion candidates for scripts/xbpf-completion.bash");
  comp->group("");        // hidden from --help
  comp->prefix_command();  // every word after CWORD is data, "--store" and "-j" included
  comp->callback([&app, comp, &exit_code] { exit_code = run_complete(app, comp->remaining()); });
}

}  // namespace xbpf::cli
