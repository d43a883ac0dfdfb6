// cxx_throw.cc - C++ exceptions must keep working under nprof: 1000
// throws caught across frames.
#include <cstdio>
#include <stdexcept>

__attribute__((noinline)) static void thrower(int i)
{
	if (i >= 0)
		throw std::runtime_error("x");
}

int main()
{
	int caught = 0;
	for (int i = 0; i < 1000; i++) {
		try {
			thrower(i);
		} catch (const std::exception &) {
			caught++;
		}
	}
	std::printf("caught %d\n", caught);
	return caught == 1000 ? 0 : 1;
}
