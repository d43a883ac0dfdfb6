// heap_cxx.cc - C++ new/delete in every form reach nprof through malloc,
// counted once (tests/preload/heap_entry.sh, at NPROF_HEAP_RATE=1).
// Each form runs in its own function, 10 times, keeping 7 objects; the
// program prints "expect FUNC INUSE_BYTES INUSE_OBJECTS ALLOC_BYTES
// ALLOC_OBJECTS" as heap_entry.c does.
#include <cstdio>
#include <new>

struct Obj {
	long v[6]; // 48 bytes
};

struct alignas(64) Aligned {
	char c[128];
};

static void *held[8][10];

static void expect(const char *fn, size_t each)
{
	std::printf("expect %s %zu 7 %zu 10\n", fn, each * 7, each * 10);
}

__attribute__((noinline)) static void use_new()
{
	for (int i = 0; i < 10; i++)
		held[0][i] = new Obj();
	for (int i = 7; i < 10; i++)
		delete static_cast<Obj *>(held[0][i]);
	expect("use_new", sizeof(Obj));
}

__attribute__((noinline)) static void use_new_array()
{
	for (int i = 0; i < 10; i++)
		held[1][i] = new int[25];
	for (int i = 7; i < 10; i++)
		delete[] static_cast<int *>(held[1][i]);
	expect("use_new_array", 25 * sizeof(int));
}

__attribute__((noinline)) static void use_sized_delete()
{
	for (int i = 0; i < 10; i++)
		held[2][i] = ::operator new(333);
	for (int i = 7; i < 10; i++)
		::operator delete(held[2][i], 333);
	expect("use_sized_delete", 333);
}

__attribute__((noinline)) static void use_aligned_new()
{
	for (int i = 0; i < 10; i++)
		held[3][i] = new Aligned();
	for (int i = 7; i < 10; i++) {
		if (reinterpret_cast<unsigned long>(held[3][i]) % 64 != 0)
			std::printf("misaligned\n");
		delete static_cast<Aligned *>(held[3][i]);
	}
	expect("use_aligned_new", sizeof(Aligned));
}

__attribute__((noinline)) static void use_nothrow_new()
{
	for (int i = 0; i < 10; i++)
		held[4][i] = new (std::nothrow) Obj();
	for (int i = 7; i < 10; i++)
		delete static_cast<Obj *>(held[4][i]);
	expect("use_nothrow_new", sizeof(Obj));
}

int main()
{
	use_new();
	use_new_array();
	use_sized_delete();
	use_aligned_new();
	use_nothrow_new();
	return 0;
}
