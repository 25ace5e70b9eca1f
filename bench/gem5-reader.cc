// gem5-reader.cc -- read a raw disk image the way gem5's RawDiskImage does.
//
//   gem5-reader FILE seq|rand NSECTORS [FIRST_SECTOR] [SEED]
//
// gem5 (src/dev/storage/disk_image.cc) opens the image with std::fstream
// (read-only under CowDiskImage), takes its size by seeking to the end, and
// for every sector the guest reads does
//     stream.seekg(sector * SectorSize, std::ios::beg);
//     stream.read((char *)data, SectorSize);
// one 512-byte sector per call.  This program does the same:
//   seq   NSECTORS consecutive sectors from FIRST_SECTOR (default 0);
//   rand  NSECTORS sectors drawn uniformly over the whole image from a
//         std::mt19937_64 seeded with SEED (default 1), so every target
//         reads the same sectors.
// It prints one line: mode, sectors, bytes, seconds, MB/s (10^6 bytes/s) and
// a checksum of the bytes read (FNV-1a), to compare targets' contents.
// A short read is an error, as it is a panic in gem5.

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ios>
#include <random>
#include <string>

static const uint64_t SectorSize = 512;

int main(int argc, char **argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s FILE seq|rand NSECTORS [FIRST_SECTOR] [SEED]\n", argv[0]);
        return 2;
    }
    const std::string file = argv[1];
    const std::string mode = argv[2];
    uint64_t n = std::strtoull(argv[3], nullptr, 0);
    uint64_t first = argc > 4 ? std::strtoull(argv[4], nullptr, 0) : 0;
    uint64_t seed = argc > 5 ? std::strtoull(argv[5], nullptr, 0) : 1;
    if (mode != "seq" && mode != "rand") {
        std::fprintf(stderr, "%s: mode must be seq or rand\n", argv[0]);
        return 2;
    }

    std::fstream stream;
    stream.open(file.c_str(), std::ios::in | std::ios::binary);
    if (!stream.is_open()) {
        std::fprintf(stderr, "%s: cannot open %s\n", argv[0], file.c_str());
        return 1;
    }
    stream.seekg(0, std::ios::end);
    uint64_t sectors = (uint64_t)stream.tellg() / SectorSize;
    if (sectors == 0) {
        std::fprintf(stderr, "%s: %s is empty\n", argv[0], file.c_str());
        return 1;
    }
    if (mode == "seq" && first + n > sectors)
        n = first < sectors ? sectors - first : 0;

    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<uint64_t> pick(0, sectors - 1);
    unsigned char data[SectorSize];
    uint64_t h = 1469598103934665603ULL;

    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t sector = mode == "seq" ? first + i : pick(rng);
        stream.seekg(sector * SectorSize, std::ios::beg);
        stream.read((char *)data, SectorSize);
        if (stream.gcount() != (std::streamsize)SectorSize) {
            std::fprintf(stderr, "%s: short read at sector %" PRIu64 "\n", argv[0], sector);
            return 1;
        }
        // Cheap checksum: one 8-byte word per sector keeps the cost off
        // the measurement while still catching wrong contents.
        uint64_t w;
        std::memcpy(&w, data + (sector % 64) * 8, 8);
        h = (h ^ w ^ sector) * 1099511628211ULL;
    }
    auto t1 = std::chrono::steady_clock::now();
    double s = std::chrono::duration<double>(t1 - t0).count();
    double bytes = (double)n * SectorSize;
    std::printf("mode=%s sectors=%" PRIu64 " bytes=%.0f seconds=%.3f MBps=%.1f sum=%016" PRIx64 "\n",
                mode.c_str(), n, bytes, s, s > 0 ? bytes / s / 1e6 : 0.0, h);
    return 0;
}
