// tests/unit/signer/split_test.cpp — RSA signatures split over two threads (rsa_split.hpp,
// spare_thread.hpp): the same octets as OpenSSL's own RSASSA-PKCS1-v1_5, on one thread or two,
// from many threads at once; and the spare thread's offer/withdraw/wait protocol.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "signer/key.hpp"
#include "signer/rsa_split.hpp"
#include "signer/spare_thread.hpp"
#include "test_support.hpp"

namespace {

using namespace signpost::signer;
using signer_test::key_pem;

struct PkeyFree {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey read_key(const std::string& pem) {
    std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    return Pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// What OpenSSL's RSA code gives for the same key and input: the reference octets.
std::vector<std::uint8_t> openssl_sign(EVP_PKEY* key, const std::string& input) {
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
    std::size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()), 1);
    std::vector<std::uint8_t> out(len);
    EXPECT_EQ(EVP_DigestSign(ctx.get(), out.data(), &len, data, input.size()), 1);
    out.resize(len);
    return out;
}

std::string input_number(int i) {
    // Lengths from 0 to a few KiB, so the digests and the blinded values differ widely.
    return "from:a@example.com\r\nsubject:" + std::to_string(i) + "\r\n" + std::string(static_cast<std::size_t>(i * 97), 'x') +
           "dkim-signature:v=1; b=";
}

TEST(RsaSplit, SameOctetsAsOpenSslOnOneThreadAndOnTwo) {
    SpareThread spare;
    for (const char* name : {"rsa-1024.pem", "rsa-2048.pem", "rsa-2048-other.pem", "rsa-4096.pem"}) {
        Pkey pkey = read_key(key_pem(name));
        ASSERT_TRUE(pkey) << name;
        auto split = RsaSplitKey::from(pkey.get());
        ASSERT_TRUE(split) << name;
        // 40 signatures: the blinding pair is drawn afresh after 32.
        for (int i = 0; i < 40; ++i) {
            const std::string input = input_number(i);
            const auto expected = openssl_sign(pkey.get(), input);
            const auto alone = split->sign(input, nullptr);
            ASSERT_TRUE(alone) << name << " #" << i;
            EXPECT_EQ(*alone, expected) << name << " #" << i;
            const auto shared = split->sign(input, &spare);
            ASSERT_TRUE(shared) << name << " #" << i;
            EXPECT_EQ(*shared, expected) << name << " #" << i;
        }
    }
    // A split signature's half either ran on the spare thread or was taken back (or, after
    // one taken back, was not offered: the back-off).
    EXPECT_LE(spare.ran() + spare.withdrawn(), 160u);

    // And a half made on the spare thread gives the right octets: a fresh spare thread (no
    // back-off) per try, until one started in time (the first, unless the machine is busy).
    Pkey pkey = read_key(key_pem("rsa-2048.pem"));
    auto split = RsaSplitKey::from(pkey.get());
    ASSERT_TRUE(split);
    const auto expected = openssl_sign(pkey.get(), input_number(3));
    bool ran = false;
    for (int attempt = 0; attempt < 200 && !ran; ++attempt) {
        SpareThread fresh;
        const auto sig = split->sign(input_number(3), &fresh);
        ASSERT_TRUE(sig);
        EXPECT_EQ(*sig, expected);
        ran = fresh.ran() == 1;
    }
    EXPECT_TRUE(ran);
}

TEST(RsaSplit, ManyThreadsShareOneSpareThread) {
    Pkey pkey = read_key(key_pem("rsa-2048.pem"));
    ASSERT_TRUE(pkey);
    auto split = RsaSplitKey::from(pkey.get());
    ASSERT_TRUE(split);
    std::vector<std::vector<std::uint8_t>> expected;
    for (int i = 0; i < 8; ++i) expected.push_back(openssl_sign(pkey.get(), input_number(i)));
    SpareThread spare;
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 16; ++i) {
                const int which = (t + i) % 8;
                const auto sig = split->sign(input_number(which), &spare);
                if (!sig || *sig != expected[static_cast<std::size_t>(which)]) ++bad;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad.load(), 0);
}

TEST(RsaSplit, DkimSignWithASpareThreadGivesTheSameSignature) {
    SpareThread spare;
    auto key = load_private_key_pem(key_pem("rsa-2048.pem"));
    ASSERT_TRUE(key);
    for (int i = 0; i < 10; ++i) {
        const std::string input = input_number(i);
        const auto whole = dkim_sign(*key, input);
        const auto split = dkim_sign(*key, input, &spare);
        ASSERT_TRUE(whole);
        ASSERT_TRUE(split);
        EXPECT_EQ(*split, *whole);
    }
    const auto offered = spare.ran() + spare.withdrawn();
    EXPECT_GE(offered, 1u);  // the first signature's offer at least (no back-off yet)
    EXPECT_EQ(spare.failed_splits(), 0u);
    // Ed25519 keys ignore the spare thread.
    auto ed = load_private_key_pem(key_pem("ed25519.pem"));
    ASSERT_TRUE(ed);
    EXPECT_EQ(dkim_sign(*ed, "input", &spare).value(), dkim_sign(*ed, "input").value());
    EXPECT_EQ(spare.ran() + spare.withdrawn(), offered);
}

TEST(RsaSplit, OnlyTwoPrimeRsaKeysSplit) {
    EXPECT_FALSE(RsaSplitKey::from(nullptr));
    EXPECT_FALSE(RsaSplitKey::from(read_key(key_pem("ed25519.pem")).get()));
    // A three-prime key (RFC 8017 allows them): OpenSSL signs it; the split path does not.
    std::unique_ptr<EVP_PKEY_CTX, void (*)(EVP_PKEY_CTX*)> gen(EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr),
                                                               EVP_PKEY_CTX_free);
    ASSERT_TRUE(gen);
    ASSERT_EQ(EVP_PKEY_keygen_init(gen.get()), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_keygen_bits(gen.get(), 2048), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_keygen_primes(gen.get(), 3), 1);
    EVP_PKEY* raw = nullptr;
    ASSERT_EQ(EVP_PKEY_keygen(gen.get(), &raw), 1);
    Pkey three(raw);
    EXPECT_FALSE(RsaSplitKey::from(three.get()));
}

// A job that counts its runs, and can be made to wait inside run().
class CountingJob final : public SpareThread::Job {
public:
    explicit CountingJob(std::atomic<bool>* hold = nullptr) : hold_(hold) {}
    void run() noexcept override {
        started.store(true);
        while (hold_ != nullptr && hold_->load()) std::this_thread::yield();
        runs.fetch_add(1);
    }
    std::atomic<bool> started{false};
    std::atomic<int> runs{0};

private:
    std::atomic<bool>* hold_;
};

TEST(SpareThread, TakesOneJobAtATime) {
    SpareThread spare;
    std::atomic<bool> hold{true};
    CountingJob first(&hold);
    ASSERT_TRUE(spare.offer(first));
    CountingJob second;
    EXPECT_FALSE(spare.offer(second));  // the slot is full, or the thread is running `first`
    while (!first.started.load()) std::this_thread::yield();
    EXPECT_FALSE(spare.withdraw(first));  // taken: too late to take back
    EXPECT_FALSE(spare.offer(second));    // busy
    hold.store(false);
    spare.wait(first);
    EXPECT_EQ(first.runs.load(), 1);
    // Idle again (busy is cleared just after the job is marked finished).
    bool offered = false;
    for (int i = 0; i < 100000 && !offered; ++i) {
        offered = spare.offer(second);
        if (!offered) std::this_thread::yield();
    }
    ASSERT_TRUE(offered);
    const bool back = spare.withdraw(second);
    if (!back) spare.wait(second);
    EXPECT_EQ(second.runs.load(), back ? 0 : 1);
}

TEST(SpareThread, AWithdrawnJobNeverRunsAndATakenOneRunsOnce) {
    std::vector<std::unique_ptr<CountingJob>> jobs;
    std::vector<bool> taken_back;
    {
        SpareThread spare;
        for (int i = 0; i < 2000; ++i) {
            jobs.push_back(std::make_unique<CountingJob>());
            CountingJob& job = *jobs.back();
            if (!spare.offer(job)) {  // the thread is still finishing the last one
                taken_back.push_back(true);
                continue;
            }
            if (i % 2 == 0) std::this_thread::yield();  // some get taken, some are taken back
            const bool back = spare.withdraw(job);
            taken_back.push_back(back);
            if (!back) {
                spare.wait(job);
            } else {
                // Back-off: a job taken back makes the next offer be refused at once.
                CountingJob probe;
                const bool offered = spare.offer(probe);
                EXPECT_FALSE(offered) << "job " << i;
                if (offered && !spare.withdraw(probe)) spare.wait(probe);
            }
        }
    }  // joined: nothing can run any more
    int ran = 0, withdrawn = 0;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        EXPECT_EQ(jobs[i]->runs.load(), taken_back[i] ? 0 : 1) << "job " << i;
        (taken_back[i] ? withdrawn : ran)++;
    }
    EXPECT_EQ(ran + withdrawn, 2000);
}

}  // namespace
