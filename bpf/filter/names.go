package filter

// Names tacap knows without a services or protocols database, so that an
// expression means the same on every machine. tcpdump looks names up in
// /etc/services and /etc/protocols; these are the Debian values of the
// common ones. A number always works.

// portNames are service names for port and portrange.
var portNames = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53,
	"bootps": 67, "bootpc": 68, "tftp": 69, "http": 80, "www": 80, "kerberos": 88,
	"pop3": 110, "sunrpc": 111, "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138,
	"netbios-ssn": 139, "imap": 143, "imap2": 143, "snmp": 161, "snmp-trap": 162,
	"bgp": 179, "ldap": 389, "https": 443, "microsoft-ds": 445, "isakmp": 500,
	"syslog": 514, "submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995,
	"openvpn": 1194, "ms-sql-s": 1433, "mysql": 3306, "ms-wbt-server": 3389,
	"sip": 5060, "postgresql": 5432, "http-alt": 8080, "memcache": 11211,
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
