// `xbpf __complete`: what may come at the cursor, for the bash completion
// script. Three sources, each the single place its facts live:
//   - the CLI11 tree: commands, verbs and dash options (so a new verb or option
//     completes without touching this file);
//   - kGrammar below: the bpftool-style keyword words of each verb (PROG, MAP,
//     `type`, `key`, `format raw|c`, ...), written in the notation of the help
//     pages;
//   - the store, read live: ids, pin names, program and map names, tags.
// Errors of any kind (no store, unreadable store, odd input) give fewer
// candidates, never a message: completion runs on every TAB.
#include "complete.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "kabi/kernel_types.hpp"
#include "maps/store.hpp"

namespace xbpf::cli {
namespace {

// The words after a verb, bpftool style. Notation (one item per space, brackets
// group a keyword with its value):
//   A|B       one positional word: a lowercase alternative is a literal keyword,
//             `kw:VALUE` a keyword followed by a value, an uppercase one a value
//   X?        optional positional;  X...  repeated positional
//   [kw V]    a keyword with its value, in any order after the positionals
//             ([kw] alone: a bare keyword; [kw V...]: a value of several words)
// Values: FILE (left to the shell), FREE (anything; nothing to suggest), PROG,
// MAP, LINK (bpftool's `id ID | pinned PIN | name NAME | tag TAG` selectors),
// PTYPE / MTYPE (program / map type names), DEV (packet devices that run a
// program).
struct VerbGrammar {
  std::string_view family;
  std::string_view verbs;  // "a|b"; "" for a command without verbs (asm, verify, ...)
  std::string_view spec;
};
constexpr VerbGrammar kGrammar[] = {
    {"asm", "", "FILE"},
    {"disasm", "", "FILE"},
    {"conformance", "", "FILE..."},
    {"verify", "", "FILE"},
    {"object", "show", "FILE"},
    {"prog", "show|list", "PROG?"},
    {"prog", "load|loadall", "FILE FREE [type PTYPE] [pinmaps FREE]"},
    {"prog", "dump", "xlated|jited PROG|FILE [opcodes] [linum] [file FILE]"},
    {"prog", "pin", "PROG FREE"},
    {"prog", "run",
     "PROG|FILE [data_in FILE] [data_out FILE] [data_size_out FREE] [ctx_in FILE] [ctx_out FILE] [ctx_size_out FREE] "
     "[repeat FREE] [pcap FILE]"},
    {"prog", "detach", "PROG xdp [dev DEV]"},
    {"prog", "tracelog", ""},
    {"map", "show|list", "MAP?"},
    {"map", "create",
     "FREE [type MTYPE] [key FREE] [value FREE] [entries FREE] [name FREE] [flags FREE] [inner_map MAP]"},
    {"map", "dump|freeze|pop|dequeue|peek", "MAP"},
    {"map", "lookup|delete|getnext", "MAP [key FREE...]"},
    {"map", "update", "MAP [key FREE...] [value FREE...] [any] [exist] [noexist]"},
    {"map", "push|enqueue", "MAP [value FREE...]"},
    {"map", "pin", "MAP FREE"},
    {"btf", "show|list", "[id FREE]"},
    {"btf", "dump", "file:FILE|id:FREE|map:MAP|prog:PROG [format raw|c]"},
    {"link", "show|list", "LINK?"},
    {"link", "pin", "LINK FREE"},
    {"link", "detach", "LINK"},
    {"net", "show|list", "[dev DEV]"},
    {"net", "attach", "xdp|xdpgeneric PROG [dev DEV] [overwrite]"},
    {"net", "detach", "xdp|xdpgeneric [dev DEV]"},
};

// The selectors, as alternatives of the notation above.
std::string_view selector(std::string_view value) {
  if (value == "PROG") return "id:PROGID|pinned:PROGPIN|name:PROGNAME|tag:PROGTAG";
  if (value == "MAP") return "id:MAPID|pinned:MAPPIN|name:MAPNAME";
  if (value == "LINK") return "id:LINKID|pinned:LINKPIN";
  return {};
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  if (s.empty()) return out;
  for (size_t start = 0;;) {
    const size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

bool has_verb(const VerbGrammar& g, std::string_view verb) {
  for (auto v : split(g.verbs, '|'))
    if (v == verb) return true;
  return g.verbs.empty() && verb.empty();
}

struct Alt {
  std::string_view keyword;  // "" for a bare value
  std::string_view value;    // "" for a bare keyword
};

std::vector<Alt> alternatives(std::string_view item) {
  std::vector<Alt> out;
  for (auto a : split(item, '|')) {
    if (auto colon = a.find(':'); colon != std::string_view::npos) {
      out.push_back({a.substr(0, colon), a.substr(colon + 1)});
    } else if (!a.empty() && a[0] >= 'a' && a[0] <= 'z') {
      out.push_back({a, {}});
    } else if (auto sel = selector(a); !sel.empty()) {
      auto more = alternatives(sel);
      out.insert(out.end(), more.begin(), more.end());
    } else {
      out.push_back({{}, a});
    }
  }
  return out;
}

struct Positional {
  std::string_view item;
  bool optional = false, repeated = false;
};
struct Keyword {
  std::string_view word, value;  // value "" for a bare keyword
  bool multi = false;
};
struct Spec {
  std::vector<Positional> positionals;
  std::vector<Keyword> keywords;
};

Spec parse_spec(std::string_view spec) {
  Spec s;
  auto tokens = split(spec, ' ');
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string_view t = tokens[i];
    if (t.starts_with('[')) {
      Keyword k;
      const bool single = t.ends_with(']');
      k.word = t.substr(1, t.size() - (single ? 2 : 1));
      if (!single && i + 1 < tokens.size()) {
        std::string_view v = tokens[++i];
        v.remove_suffix(1);  // ']'
        if (v.ends_with("...")) k.multi = true, v.remove_suffix(3);
        k.value = v;
      }
      s.keywords.push_back(k);
      continue;
    }
    Positional p;
    if (t.ends_with('?')) p.optional = true, t.remove_suffix(1);
    if (t.ends_with("...")) p.repeated = true, t.remove_suffix(3);
    p.item = t;
    s.positionals.push_back(p);
  }
  return s;
}

// Candidates collected for one cursor position.
class Collector {
 public:
  Collector(std::string prefix, std::string store_dir) : prefix_(std::move(prefix)), dir_(std::move(store_dir)) {}

  void add(std::string_view w) {
    if (!w.starts_with(prefix_)) return;
    if (std::find(out_.words.begin(), out_.words.end(), w) == out_.words.end()) out_.words.emplace_back(w);
  }
  void file() { out_.file = true; }
  // A value of the grammar: a store lookup, a type name, a file or nothing.
  void value(std::string_view v);
  Completion take() { return std::move(out_); }

 private:
  maps::Store* store();
  void pins(maps::ObjectKind kind);

  std::string prefix_, dir_;
  Completion out_;
  std::shared_ptr<maps::Store> store_;
  bool tried_ = false;
};

// Only an existing store is opened (Store::open would create a missing one).
maps::Store* Collector::store() {
  if (tried_) return store_.get();
  tried_ = true;
  struct stat st{};
  if (dir_.empty() || stat((dir_ + "/meta").c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return nullptr;
  if (auto s = maps::Store::open(dir_)) store_ = *s;
  return store_.get();
}

void Collector::pins(maps::ObjectKind kind) {
  maps::Store* s = store();
  if (!s) return;
  namespace fs = std::filesystem;
  const fs::path root = fs::path(dir_) / "pins";
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string rel = fs::relative(it->path(), root, ec).string();
    if (auto what = s->pinned(rel); what && what->first == kind) add(rel);
  }
}

void Collector::value(std::string_view v) {
  if (v == "FILE") return file();
  if (v == "PTYPE" || v == "MTYPE") {
#define XBPF_X(name, value, str) \
  if (std::string_view(str) != "unspec") add(str);
    if (v == "PTYPE") {
      XBPF_PROG_TYPES(XBPF_X)
    } else {
      XBPF_MAP_TYPES(XBPF_X)
    }
#undef XBPF_X
    return;
  }
  if (v == "PROGPIN") return pins(maps::ObjectKind::Program);
  if (v == "MAPPIN") return pins(maps::ObjectKind::Map);
  if (v == "LINKPIN") return pins(maps::ObjectKind::Link);
  maps::Store* s = store();
  if (!s) return;
  if (v == "PROGID" || v == "PROGNAME" || v == "PROGTAG") {
    auto ids = s->program_ids();
    for (uint32_t id : ids ? *ids : std::vector<uint32_t>{}) {
      if (v == "PROGID") {
        add(std::to_string(id));
      } else if (auto rec = s->program(id)) {
        add(v == "PROGNAME" ? rec->name : rec->tag);
      }
    }
  } else if (v == "LINKID") {
    auto ids = s->link_ids();
    for (uint32_t id : ids ? *ids : std::vector<uint32_t>{}) add(std::to_string(id));
  } else if (v == "DEV") {
    auto devs = s->devices();
    for (const auto& d : devs ? *devs : std::vector<std::pair<std::string, uint32_t>>{}) add(d.first);
  } else if (v == "MAPID" || v == "MAPNAME") {
    auto ids = s->map_ids();
    for (uint32_t id : ids ? *ids : std::vector<uint32_t>{}) {
      if (v == "MAPID") {
        add(std::to_string(id));
      } else if (auto m = s->open_map(id)) {
        add((*m)->name());
      }
    }
  }
  // FREE and anything unknown: nothing to suggest.
}

// The CLI11 commands the words name, root first ("xbpf prog dump xlated").
std::vector<const CLI::App*> command_chain(const CLI::App& root, const std::vector<std::string>& words, size_t end) {
  std::vector<const CLI::App*> chain{&root};
  for (size_t i = 1; i < end; ++i) {
    auto subs = chain.back()->get_subcommands([&](const CLI::App* a) { return a->get_name() == words[i]; });
    if (!subs.empty()) chain.push_back(subs[0]);
  }
  return chain;
}

bool visible(const CLI::App* a) { return !a->get_group().empty(); }

// The option `word` ("--store", "-j", "--store=DIR") names, or null.
const CLI::Option* find_option(const std::vector<const CLI::App*>& chain, std::string_view word) {
  std::string_view name = word.substr(0, word.find('='));
  const bool is_long = name.starts_with("--");
  name.remove_prefix(is_long ? 2 : 1);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    for (const CLI::Option* o : (*it)->get_options()) {
      const auto& names = is_long ? o->get_lnames() : o->get_snames();
      if (std::find(names.begin(), names.end(), name) != names.end()) return o;
    }
  }
  return nullptr;
}

// Whether the option word takes the next word as its value. --store always
// does (the global option, wherever the CLI declares it).
bool takes_value(const std::vector<const CLI::App*>& chain, std::string_view word) {
  if (word.find('=') != std::string_view::npos) return false;
  if (word == "--store") return true;
  const CLI::Option* o = find_option(chain, word);
  return o && o->get_type_size_max() > 0 && o->get_expected_max() > 0;
}

// How many words the option at words[i] spans: itself, its value, and the
// "=" bash splits "--store=DIR" at.
size_t option_span(const std::vector<const CLI::App*>& chain, const std::vector<std::string>& words, size_t i) {
  if (!takes_value(chain, words[i])) return 1;
  return i + 1 < words.size() && words[i + 1] == "=" ? 3 : 2;
}

// An option's value: its allowed words when the CLI lists them
// ("TEXT:{checked,verified}"), a file for text, nothing for numbers.
void option_value(Collector& c, const std::vector<const CLI::App*>& chain, std::string_view word) {
  const CLI::Option* o = find_option(chain, word);
  if (!o) return c.file();  // --store
  const std::string type = o->get_type_name();
  const size_t open = type.find('{'), close = type.find('}');
  if (open != std::string::npos && close != std::string::npos && close > open) {
    for (auto w : split(std::string_view(type).substr(open + 1, close - open - 1), ','))
      c.add(w.substr(w.find_first_not_of(' ')));
    return;
  }
  if (type.starts_with("TEXT")) c.file();
}

void dash_options(Collector& c, const std::vector<const CLI::App*>& chain) {
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    for (const CLI::Option* o : (*it)->get_options()) {
      for (const auto& l : o->get_lnames()) c.add("--" + l);
      for (const auto& s : o->get_snames()) c.add("-" + s);
    }
  }
}

// Walks the words after the verb through the verb's grammar; fills `c` for
// the word at `n` (the cursor).
class Walker {
 public:
  Walker(const std::vector<std::string>& words, size_t begin, size_t n, Collector& c,
         const std::vector<const CLI::App*>& chain)
      : w_(words), i_(begin), n_(n), c_(c), chain_(chain) {}

  void run(const Spec& spec) {
    size_t pos = 0;
    std::vector<bool> used(spec.keywords.size());
    for (;;) {
      if (i_ == n_) return at_cursor(spec, pos, used);
      const std::string& w = w_[i_];
      if (w.size() > 1 && w[0] == '-') {  // the cursor is never on its value (complete() handles that)
        i_ = std::min(n_, i_ + option_span(chain_, w_, i_));
        continue;
      }
      if (pos < spec.positionals.size()) {
        const Positional& p = spec.positionals[pos];
        if (!(p.optional && keyword_index(spec, w))) {
          if (step(p.item)) return;
          if (!p.repeated) ++pos;
          continue;
        }
        pos = spec.positionals.size();
      }
      auto k = keyword_index(spec, w);
      ++i_;
      if (!k) continue;  // a word we do not know: skip it
      used[*k] = true;
      const Keyword& kw = spec.keywords[*k];
      if (kw.value.empty()) continue;
      if (step(kw.value)) return;
      while (kw.multi && i_ < n_ && !keyword_index(spec, w_[i_])) ++i_;
    }
  }

 private:
  static std::optional<size_t> keyword_index(const Spec& spec, std::string_view w) {
    for (size_t k = 0; k < spec.keywords.size(); ++k)
      if (spec.keywords[k].word == w) return k;
    return std::nullopt;
  }

  void at_cursor(const Spec& spec, size_t pos, const std::vector<bool>& used) {
    if (pos < spec.positionals.size()) {
      step(spec.positionals[pos].item);
      if (!spec.positionals[pos].optional) return;
    }
    for (size_t k = 0; k < spec.keywords.size(); ++k)
      if (!used[k]) c_.add(spec.keywords[k].word);
  }

  // One item (positional or keyword value): true when the cursor is inside it
  // (candidates collected), false when it was consumed.
  bool step(std::string_view item) {
    const auto alts = alternatives(item);
    if (i_ == n_) {
      for (const Alt& a : alts) {
        if (!a.keyword.empty()) c_.add(a.keyword);
        else c_.value(a.value);
      }
      return true;
    }
    const std::string& w = w_[i_];
    for (const Alt& a : alts) {
      if (a.keyword.empty() || a.keyword != w) continue;
      ++i_;
      return a.value.empty() ? false : step(a.value);
    }
    ++i_;  // a bare value, or a word we do not know
    return false;
  }

  const std::vector<std::string>& w_;
  size_t i_, n_;
  Collector& c_;
  const std::vector<const CLI::App*>& chain_;
};

// `--store DIR` / `--store=DIR` anywhere in the line, else the default.
std::string store_in(const std::vector<std::string>& words, std::string dir) {
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] == "--store" && i + 1 < words.size()) {
      // bash splits "--store=DIR" into "--store", "=", "DIR".
      dir = words[i + 1] == "=" && i + 2 < words.size() ? words[i + 2] : words[i + 1];
    } else if (words[i].starts_with("--store=")) {
      dir = words[i].substr(8);
    }
  }
  return dir;
}

}  // namespace

Completion complete(const CLI::App& root, size_t cword, const std::vector<std::string>& words,
                    const std::string& store_dir) {
  if (cword == 0 || cword > words.size()) return {};
  const std::string cur = cword < words.size() ? words[cword] : "";
  Collector c(cur, store_in(words, store_dir));
  const auto chain = command_chain(root, words, cword);
  if (cur.starts_with('-')) {
    dash_options(c, chain);
    return c.take();
  }
  // An option's value: "--engine VALUE", or "--engine = VALUE" as bash splits "--engine=VALUE".
  const size_t opt = cword >= 3 && words[cword - 1] == "=" ? cword - 2 : cword - 1;
  if (opt >= 1 && words[opt].starts_with('-') && takes_value(chain, words[opt])) {
    option_value(c, chain, words[opt]);
    return c.take();
  }
  // The command (family) and verb: the first two words that are not options.
  std::vector<size_t> at;  // indexes of non-option words before the cursor
  for (size_t i = 1; i < cword && at.size() < 2; ++i) {
    if (words[i].size() > 1 && words[i][0] == '-') {
      i += option_span(chain, words, i) - 1;
      continue;
    }
    at.push_back(i);
  }
  if (at.empty()) {
    for (const CLI::App* a : root.get_subcommands([](const CLI::App* s) { return visible(s); }))
      c.add(a->get_name());
    return c.take();
  }
  const std::string& family = words[at[0]];
  if (family == "help") {
    if (at.size() == 1) {
      for (const auto& t : help_topics()) c.add(t);
    } else if (cword == at[1] + 1) {
      for (const auto& v : help_verbs(words[at[1]])) c.add(v);
    }
    return c.take();
  }
  // A command without verbs (asm, verify) takes its arguments right away.
  auto fam = root.get_subcommands([&](const CLI::App* s) { return s->get_name() == family; });
  const auto verbs = fam.empty() ? std::vector<const CLI::App*>{}
                                 : fam[0]->get_subcommands([](const CLI::App* s) { return visible(s); });
  const bool verbless = !fam.empty() && verbs.empty();
  if (!verbless && at.size() == 1) {
    for (const CLI::App* v : verbs) c.add(v->get_name());
    return c.take();
  }
  const std::string verb = verbless ? "" : words[at[1]];
  for (const VerbGrammar& g : kGrammar) {
    if (g.family != family || !has_verb(g, verb)) continue;
    Walker(words, (verbless ? at[0] : at[1]) + 1, cword, c, chain).run(parse_spec(g.spec));
    break;
  }
  return c.take();
}

}  // namespace xbpf::cli
