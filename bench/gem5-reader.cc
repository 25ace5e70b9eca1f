/* SPDX-License-Identifier: BSD-3-Clause */
// gem5-reader.cc -- read a raw disk image the way gem5's RawDiskImage does.
//
//   gem5-reader [--cow COWFILE] FILE seq|rand NSECTORS [FIRST_SECTOR] [SEED]
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
//
// With --cow, FILE is the base and COWFILE a COW disk file (hackbackfs
// --export-cow): as gem5's CowDiskImage(image_file=COWFILE) over a
// RawDiskImage(FILE), the table is loaded into memory first (one heap
// sector per entry in a std::unordered_map, as gem5 keeps it), and each
// sector is taken from the table when it is there, else read from FILE as
// above.  The line then also gives the table's size and its load time.

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ios>
#include <random>
#include <string>
#include <unordered_map>

static const uint64_t SectorSize = 512;

struct Sector {
    unsigned char data[SectorSize];
};

// Load a COW disk file: "COWDISK!", u32 1, u32 0, u64 N, N x (u64, 512 bytes),
// little-endian (this reader assumes a little-endian host, as x86 is).
static bool load_table(const char *path, std::unordered_map<uint64_t, Sector *> &table)
{
    std::ifstream in(path, std::ios::in | std::ios::binary);
    char magic[8];
    uint32_t major = 0, minor = 0;
    uint64_t n = 0;

    in.read(magic, 8);
    in.read((char *)&major, 4);
    in.read((char *)&minor, 4);
    in.read((char *)&n, 8);
    if (!in || std::memcmp(magic, "COWDISK!", 8) != 0 || major != 1 || minor != 0)
        return false;
    table.reserve(n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t sector;
        Sector *s = new Sector;
        in.read((char *)&sector, 8);
        in.read((char *)s->data, SectorSize);
        if (!in || !table.emplace(sector, s).second)
            return false;   // short file or a repeated sector: gem5 panics
    }
    return true;
}

int main(int argc, char **argv)
{
    const char *cow = nullptr;
    if (argc > 2 && std::string(argv[1]) == "--cow") {
        cow = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s [--cow COWFILE] FILE seq|rand NSECTORS [FIRST_SECTOR] [SEED]\n",
                     argv[0]);
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

    std::unordered_map<uint64_t, Sector *> table;
    double load_s = 0;
    if (cow) {
        auto l0 = std::chrono::steady_clock::now();
        if (!load_table(cow, table)) {
            std::fprintf(stderr, "%s: %s is not a valid COW disk file\n", argv[0], cow);
            return 1;
        }
        load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - l0).count();
    }

    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<uint64_t> pick(0, sectors - 1);
    unsigned char data[SectorSize];
    uint64_t h = 1469598103934665603ULL;

    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t sector = mode == "seq" ? first + i : pick(rng);
        auto it = cow ? table.find(sector) : table.end();
        if (it != table.end()) {
            std::memcpy(data, it->second->data, SectorSize);
        } else {
            stream.seekg(sector * SectorSize, std::ios::beg);
            stream.read((char *)data, SectorSize);
            if (stream.gcount() != (std::streamsize)SectorSize) {
                std::fprintf(stderr, "%s: short read at sector %" PRIu64 "\n", argv[0], sector);
                return 1;
            }
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
    std::printf("mode=%s sectors=%" PRIu64 " bytes=%.0f seconds=%.3f MBps=%.1f sum=%016" PRIx64,
                mode.c_str(), n, bytes, s, s > 0 ? bytes / s / 1e6 : 0.0, h);
    if (cow)
        std::printf(" table=%zu load_seconds=%.3f", table.size(), load_s);
    std::printf("\n");
    return 0;
}
