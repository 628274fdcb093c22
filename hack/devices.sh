# Sourced by the hack/ scripts: the TuxBoot device that boots each Debian
# architecture hack/testdata.sh fetches (runner/realboot_test.go has the same
# pairs and checks them against the device table).
declare -A device=(
	[amd64]=qemu-x86_64 [i386]=qemu-i386 [arm64]=qemu-arm64 [armhf]=qemu-armv7
	[ppc64el]=qemu-ppc64le [s390x]=qemu-s390 [mips64el]=qemu-mips64el
	[mipsel]=qemu-mips32el [riscv64]=qemu-riscv64
)
