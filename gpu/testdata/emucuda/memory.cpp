// memory.cpp: the emulated GPU's device memory.
//
// Device pointers are host addresses inside one reserved range that is
// never handed out twice. Each allocation gets readable pages of its own
// between inaccessible guard pages, its data ending where the next guard
// page starts:
//
//	guard | head padding | data (as asked, rounded up to 4 bytes) | guard
//
// Reading or writing past the end faults at once, as does an access more
// than a page before the start. The head padding (and the up to 3 bytes
// that round the data to 4) hold a canary, a NaN pattern, checked after
// every kernel launch, so that writes into it are caught too; a kernel
// reading it computes NaNs. The price: the data starts 4-byte aligned
// (8 or more when its size is a multiple), not 256-byte aligned as
// cuMemAlloc's, which nothing here relies on. A freed allocation's pages
// become inaccessible for good: a stale pointer faults. New memory is
// filled with another NaN pattern, as cuMemAlloc's memory is
// uninitialized.
#include "emucuda.h"

#include <cstring>
#include <map>
#include <sys/mman.h>
#include <unistd.h>

namespace {

const uint32_t canary = 0x7FBADBADu; // a NaN
const uint32_t uninit = 0x7FF0DEADu; // a NaN
const size_t reserveBytes = size_t(64) << 30;
const size_t totalBytes = size_t(8) << 30; // the emulated device's memory

size_t page;
uintptr_t base, next;
size_t live;
uint64_t nextID = 1;
std::map<uintptr_t, EmuAlloc> allocs; // by pages (the region's first readable page)

bool reserve() {
	if (base != 0) {
		return true;
	}
	page = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(nullptr, reserveBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		emu_log("cannot reserve %zu bytes of address space for device memory", reserveBytes);
		return false;
	}
	base = next = (uintptr_t)p;
	return true;
}

void fill(uintptr_t from, uintptr_t to, uint32_t v) {
	for (uint32_t *w = (uint32_t *)from; (uintptr_t)w < to; w++) {
		*w = v;
	}
}

// region returns the allocation whose readable pages or following guard
// page hold p.
const EmuAlloc *region(uintptr_t p) {
	auto it = allocs.upper_bound(p);
	if (it == allocs.begin()) {
		return nullptr;
	}
	--it;
	const EmuAlloc &a = it->second;
	if (p < a.pages + a.npages + page) {
		return &a;
	}
	return nullptr;
}

} // namespace

uintptr_t emu_mem_alloc(size_t bytes) {
	if (!reserve() || bytes == 0 || bytes > totalBytes - live) {
		return 0;
	}
	size_t padded = (bytes + 3) & ~size_t(3);
	size_t npages = (padded + page - 1) / page * page;
	uintptr_t pages = next + page; // one guard page before
	if (pages + npages + page > base + reserveBytes) {
		emu_log("the %zu bytes of address space reserved for device memory are used up", reserveBytes);
		return 0;
	}
	if (mprotect((void *)pages, npages, PROT_READ | PROT_WRITE) != 0) {
		return 0;
	}
	next = pages + npages;
	EmuAlloc a;
	a.pages = pages;
	a.npages = npages;
	a.start = pages + npages - padded;
	a.bytes = bytes;
	a.padded = padded;
	a.id = nextID++;
	a.live = true;
	fill(pages, a.start, canary);
	fill(a.start, a.start + (bytes & ~size_t(3)), uninit);
	memset((void *)(a.start + (bytes & ~size_t(3))), 0xBD, bytes & 3);
	fill((a.start + bytes + 3) & ~uintptr_t(3), a.start + padded, canary);
	memset((void *)(a.start + bytes), 0xBD, ((a.start + bytes + 3) & ~uintptr_t(3)) - (a.start + bytes));
	allocs[pages] = a;
	live += bytes;
	return a.start;
}

bool emu_mem_free(uintptr_t p, const char *call) {
	const EmuAlloc *r = region(p);
	if (r == nullptr || !r->live || r->start != p) {
		return false;
	}
	EmuAlloc &a = allocs[r->pages];
	mprotect((void *)a.pages, a.npages, PROT_NONE);
	madvise((void *)a.pages, a.npages, MADV_DONTNEED);
	a.live = false;
	a.freed_by = call;
	live -= a.bytes;
	return true;
}

const EmuAlloc *emu_mem_find(uintptr_t p) {
	if (base == 0 || p < base || p >= base + reserveBytes) {
		return nullptr;
	}
	const EmuAlloc *a = region(p);
	if (a == nullptr) {
		// In the guard page before an allocation.
		auto it = allocs.upper_bound(p);
		if (it != allocs.end() && p >= it->second.pages - page) {
			return &it->second;
		}
	}
	return a;
}

static std::string describe(const EmuAlloc &a) {
	return emu_sprintf("allocation #%llu (0x%llx, %zu bytes%s%s)", (unsigned long long)a.id,
		(unsigned long long)a.start, a.bytes, a.live ? "" : ", freed by ", a.live ? "" : a.freed_by.c_str());
}

std::string emu_mem_where(uintptr_t p) {
	const EmuAlloc *a = emu_mem_find(p);
	if (a == nullptr) {
		return emu_sprintf("0x%llx, which is not device memory", (unsigned long long)p);
	}
	if (!a->live) {
		return emu_sprintf("0x%llx, inside %s", (unsigned long long)p, describe(*a).c_str());
	}
	if (p < a->start) {
		return emu_sprintf("0x%llx, %llu bytes before the start of %s", (unsigned long long)p,
			(unsigned long long)(a->start - p), describe(*a).c_str());
	}
	if (p >= a->start + a->bytes) {
		return emu_sprintf("0x%llx, %llu bytes past the end of %s", (unsigned long long)p,
			(unsigned long long)(p - a->start - a->bytes), describe(*a).c_str());
	}
	return emu_sprintf("0x%llx, byte %llu of %s", (unsigned long long)p, (unsigned long long)(p - a->start),
		describe(*a).c_str());
}

std::string emu_mem_check(uintptr_t p, size_t bytes) {
	if (p == 0) {
		return "the null pointer";
	}
	const EmuAlloc *a = emu_mem_find(p);
	if (a == nullptr || !a->live || p < a->start || p >= a->start + a->bytes) {
		return emu_mem_where(p);
	}
	if (bytes > a->start + a->bytes - p) {
		return emu_sprintf("0x%llx (%zu bytes), which runs %llu bytes past the end of %s", (unsigned long long)p,
			bytes, (unsigned long long)(p + bytes - a->start - a->bytes), describe(*a).c_str());
	}
	return "";
}

std::string emu_mem_canaries(uintptr_t p) {
	const EmuAlloc *a = emu_mem_find(p);
	if (a == nullptr || !a->live) {
		return "";
	}
	for (const uint32_t *w = (const uint32_t *)a->pages; (uintptr_t)w < a->start; w++) {
		if (*w != canary) {
			return emu_sprintf("wrote %llu bytes before the start of %s",
				(unsigned long long)(a->start - (uintptr_t)w), describe(*a).c_str());
		}
	}
	uintptr_t end = a->start + a->bytes, aligned = (end + 3) & ~uintptr_t(3);
	for (uintptr_t q = end; q < aligned; q++) {
		if (*(const uint8_t *)q != 0xBD) {
			return emu_sprintf("wrote %llu bytes past the end of %s", (unsigned long long)(q - end), describe(*a).c_str());
		}
	}
	for (const uint32_t *w = (const uint32_t *)aligned; (uintptr_t)w < a->start + a->padded; w++) {
		if (*w != canary) {
			return emu_sprintf("wrote %llu bytes past the end of %s", (unsigned long long)((uintptr_t)w - end),
				describe(*a).c_str());
		}
	}
	return "";
}

size_t emu_mem_live_bytes() { return live; }
size_t emu_mem_total_bytes() { return totalBytes; }

void emu_mem_reset() {
	for (auto &kv : allocs) {
		if (kv.second.live) {
			emu_mem_free(kv.second.start, "the context's destruction");
		}
	}
}
