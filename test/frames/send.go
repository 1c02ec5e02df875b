package frames

import (
	"net"

	"golang.org/x/sys/unix"
)

// Send writes frames to the interface ifname (of the calling thread's
// network namespace) through one AF_PACKET socket. Tests use it for frames
// no socket API would send: tagged, spoofed or malformed.
func Send(ifname string, frames ...[]byte) error {
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: iface.Index, Halen: 6}
	for _, f := range frames {
		if err := unix.Sendto(fd, f, 0, to); err != nil {
			return err
		}
	}
	return nil
}
