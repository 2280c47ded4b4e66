// tests/integration/mtasts/mtasts_lookup.cpp — a test-only program: builds the daemon's
// PolicyStore (make_policy_store with the real HTTPS fetcher) from a Signpost config file
// and looks one domain up, with a scripted resolver instead of DNS:
//   _mta-sts.<domain> TXT  "v=STSv1; id=<ID>;" (--id), or NXDOMAIN without --id
//   mta-sts.<domain> A     --address (default 127.0.0.1); AAAA: NXDOMAIN
// The config gives [mta_sts] cache_dir and https_port and [delivery] extra_ca_file.
// Prints, for each of --lookups lookups (default 1):
//   RESULT source=<none|fetched|cached|cached_after_failure> mode=<...|-> id=<...|-> mx=<a,b|->
//   DETAIL <detail>
// then "CACHED id=<id|-> mode=<...|->" from PolicyStore::cached(). Exit 0 unless the
// arguments, the config or the store setup are wrong (then 2, with the reason on stderr).
// Usage: mtasts_lookup --config FILE --domain D [--id ID] [--address IP] [--lookups N]
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/config.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/mtasts/mtasts.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost;

class ScriptedResolver final : public dns::Resolver {
public:
    ScriptedResolver(std::string domain, std::string id, std::string address)
        : domain_(std::move(domain)), id_(std::move(id)), address_(std::move(address)) {}

    asio::awaitable<dns::MxAnswer> mx(std::string) override { co_return nx<dns::MxAnswer>(); }
    asio::awaitable<dns::AddressAnswer> a(std::string name) override {
        if (name != "mta-sts." + domain_) co_return nx<dns::AddressAnswer>();
        dns::AddressAnswer r;
        r.status = dns::Status::ok;
        r.addresses.push_back(asio::ip::make_address(address_));
        co_return r;
    }
    asio::awaitable<dns::AddressAnswer> aaaa(std::string) override { co_return nx<dns::AddressAnswer>(); }
    asio::awaitable<dns::TxtRecords> txt(std::string name) override {
        if (name != "_mta-sts." + domain_ || id_.empty()) co_return nx<dns::TxtRecords>();
        dns::TxtRecords r;
        r.status = dns::Status::ok;
        r.records = {"v=STSv1; id=" + id_ + ";"};
        co_return r;
    }
    asio::awaitable<dns::TlsaAnswer> tlsa(std::string) override { co_return nx<dns::TlsaAnswer>(); }

private:
    template <class T>
    static T nx() {
        T r;
        r.status = dns::Status::nxdomain;
        return r;
    }
    std::string domain_, id_, address_;
};

const char* source_name(mtasts::Lookup::Source s) {
    switch (s) {
        case mtasts::Lookup::Source::none: return "none";
        case mtasts::Lookup::Source::fetched: return "fetched";
        case mtasts::Lookup::Source::cached: return "cached";
        case mtasts::Lookup::Source::cached_after_failure: return "cached_after_failure";
    }
    return "?";
}

std::string mx_list(const mtasts::Policy& p) {
    std::string out;
    for (const auto& m : p.mx) out += (out.empty() ? "" : ",") + m;
    return out.empty() ? "-" : out;
}

int usage(const std::string& why) {
    std::cerr << "mtasts_lookup: " << why
              << "\nusage: mtasts_lookup --config FILE --domain D [--id ID] [--address IP] [--lookups N]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::map<std::string, std::string> args{{"--address", "127.0.0.1"}, {"--lookups", "1"}};
    for (int i = 1; i < argc; i += 2) {
        const std::string key = argv[i];
        if (i + 1 >= argc) return usage("missing value for " + key);
        if (key != "--config" && key != "--domain" && key != "--id" && key != "--address" && key != "--lookups")
            return usage("unknown option " + key);
        args[key] = argv[i + 1];
    }
    if (!args.count("--config") || !args.count("--domain")) return usage("--config and --domain are required");

    config::LoadOptions options;
    options.check_files = false;  // the config names no real TLS key or users file
    const auto loaded = config::load_file(args["--config"], options);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        return 2;
    }

    asio::io_context io;
    auto resolver = std::make_shared<ScriptedResolver>(args["--domain"], args.count("--id") ? args["--id"] : "",
                                                       args["--address"]);
    std::shared_ptr<mtasts::PolicyStore> store;
    try {
        store = mtasts::make_policy_store(io.get_executor(), resolver, *loaded.config);
    } catch (const std::exception& e) {
        std::cerr << "mtasts_lookup: " << e.what() << "\n";
        return 2;
    }

    const int lookups = std::atoi(args["--lookups"].c_str());
    for (int i = 0; i < lookups; ++i) {
        std::optional<mtasts::Lookup> result;
        asio::co_spawn(io, store->lookup(args["--domain"]), [&](std::exception_ptr e, mtasts::Lookup r) {
            if (e) std::rethrow_exception(e);
            result = std::move(r);
        });
        io.restart();
        io.run();  // the lookup and any background refresh it started
        if (!result) return usage("the lookup did not complete");
        const auto& p = result->policy;
        std::cout << "RESULT source=" << source_name(result->source) << " mode=" << (p ? to_string(p->mode) : "-")
                  << " id=" << (p ? p->id : "-") << " mx=" << (p ? mx_list(*p) : "-") << "\n"
                  << "DETAIL " << result->detail << "\n";
    }
    const auto held = store->cached(args["--domain"]);
    std::cout << "CACHED id=" << (held ? held->id : "-") << " mode=" << (held ? to_string(held->mode) : "-") << "\n";
    return 0;
}
