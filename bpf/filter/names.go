package filter

// Names tacap knows without a services or protocols database, so that an
// expression means the same on every machine. tcpdump looks names up in
// /etc/services and /etc/protocols; these are the Debian values of the
// common ones. A number always works.

// service is a port name's number and the protocols it is a service of
// (tcpdump's "port http" tests TCP only, as /etc/services has it).
type service struct {
	port     uint16
	tcp, udp bool
}

// portNames are service names for port and portrange: Debian 12's
// /etc/services for these names.
var portNames = map[string]service{
	"ftp-data": {20, true, false}, "ftp": {21, true, false}, "ssh": {22, true, false}, "telnet": {23, true, false},
	"smtp": {25, true, false}, "domain": {53, true, true}, "bootps": {67, false, true}, "bootpc": {68, false, true},
	"tftp": {69, false, true}, "http": {80, true, false}, "www": {80, true, false}, "kerberos": {88, true, true},
	"pop3": {110, true, false}, "sunrpc": {111, true, true}, "ntp": {123, false, true}, "netbios-ns": {137, false, true},
	"netbios-dgm": {138, false, true}, "netbios-ssn": {139, true, false}, "imap": {143, true, false},
	"imap2": {143, true, false}, "snmp": {161, true, true}, "snmp-trap": {162, true, true}, "bgp": {179, true, false},
	"ldap": {389, true, true}, "https": {443, true, true}, "microsoft-ds": {445, true, false}, "isakmp": {500, false, true},
	"syslog": {514, false, true}, "submission": {587, true, false}, "ldaps": {636, true, true}, "imaps": {993, true, false},
	"pop3s": {995, true, false}, "openvpn": {1194, true, true}, "ms-sql-s": {1433, true, false}, "mysql": {3306, true, false},
	"ms-wbt-server": {3389, true, false}, "sip": {5060, true, true}, "postgresql": {5432, true, false},
	"http-alt": {8080, true, false}, "webcache": {8080, true, false},
}

// protoNames are IP protocol names for "proto" (ip proto \tcp).
var protoNames = map[string]uint8{
	"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
	"icmp6": 58, "pim": 103, "vrrp": 112, "sctp": 132,
}

// constants are the names libpcap defines for byte tests.
var constants = map[string]uint32{
	"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
	"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133,
	"icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136,
	"icmp6-redirect": 137,
}
