#!/usr/bin/env python3
# A pod that lies about its source address, for the anti-spoofing cases (run inside a pod's
# network namespace by the test):
#   spoof.py send SRC DST PORT PAYLOAD   a UDP datagram from SRC (any address), sent twice
#                                        0.2 s apart (the first may wait on neighbour
#                                        discovery, as any UDP probe's). IPv4 through
#                                        a raw socket (IP_HDRINCL, needs CAP_NET_RAW); IPv6
#                                        through a UDP socket bound with IPV6_FREEBIND (no
#                                        capability needed); SRC and DST may carry a scope
#                                        (fe80::1%eth0) for link-local addresses.
#   spoof.py recv PORT SECONDS           prints one JSON line per datagram received on PORT
#                                        (both families) for SECONDS, or until a datagram
#                                        END arrives, then exits.
import ipaddress, json, select, socket, struct, sys, time

IPV6_FREEBIND = 78  # linux/in6.h; Python's socket module does not name it


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def send4(src: str, dst: str, port: int, payload: bytes) -> None:
    sport = 40123
    udp_len = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 17, udp_len)
    udp = struct.pack('!HHHH', sport, port, udp_len, 0) + payload
    csum = checksum(pseudo + udp) or 0xffff
    udp = struct.pack('!HHHH', sport, port, udp_len, csum) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, 0x1234, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.sendto(ip + udp, (dst, 0))


def send6(src: str, dst: str, port: int, payload: bytes) -> None:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
    src_ai = socket.getaddrinfo(src, 40123, socket.AF_INET6, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST)[0][4]
    dst_ai = socket.getaddrinfo(dst, port, socket.AF_INET6, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST)[0][4]
    s.bind(src_ai)
    s.sendto(payload, dst_ai)


def recv(port: int, seconds: float) -> None:
    socks = []
    for fam, addr in ((socket.AF_INET, '0.0.0.0'), (socket.AF_INET6, '::')):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        socks.append(s)
    print('ready', flush=True)
    end = time.time() + seconds
    while (left := end - time.time()) > 0:
        r, _, _ = select.select(socks, [], [], left)
        for s in r:
            data, addr = s.recvfrom(2048)
            if data == b'END':
                return
            print(json.dumps({'from': addr[0], 'payload': data.decode(errors='replace')}), flush=True)


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'send':
        src, dst, port, payload = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5].encode()
        for i in range(2):
            if i:
                time.sleep(0.2)
            (send4 if ipaddress.ip_address(dst.split('%')[0]).version == 4 else send6)(src, dst, port, payload)
    elif cmd == 'recv':
        recv(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(f'unknown command {cmd}')
