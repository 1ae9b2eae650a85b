"""Realistic synthetic argus binetflow files, for benchmarks.

    python bench/gen_binetflow.py N OUT [--seed S] [--no-header]

Writes N flows (OUT '-' is stdout) as `ra` prints them with the Stratosphere
settings: comma separated, with the header line (unless --no-header)
  StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,
  TotPkts,TotBytes,SrcBytes,SrcPkts,Label
and StartTime as `YYYY/MM/DD HH:MM:SS.ffffff`, in time order, with CTU-13 style
ground-truth labels. The same N and seed always give the same file.

The capture: a few hundred hosts of a university network (147.32.84.0/22) over
about a day (rates scale with N, so the span stays near 24 h), with a daily
rhythm for the human traffic:
  - DNS: every host queries the local resolver in bursts (one connection per host
    with hundreds to thousands of short udp/53 flows); the resolver queries
    upstream servers;
  - web browsing: sessions of tcp 443/80 bursts to Zipf-popular servers, so popular
    host-server pairs gather hundreds of flows; inbound clients of a local server;
  - periodic local services: NTP, SSDP, mDNS, NetBIOS, IMAP, ARP for the gateway,
    ICMP monitoring pings (ports like 0x0008 / 0x1a2b), IPv6 link-local chatter
    (DHCPv6, mDNS, router solicitations) and some global IPv6 web;
  - long transfers (backups, downloads): huge byte counts, records of up to
    3600 s (argus' status interval);
  - P2P hosts talking to many peers;
  - botnet hosts (labels flow=From-Botnet-V42-...): jittered periodic C&C channels
    over HTTP/HTTPS with occasional multi-hour outages, spam to many mail servers,
    horizontal scans; their DNS and web are labeled From-Botnet too;
  - external attackers: port scans and horizontal scans (one flow per
    connection), SSH brute force (one connection, thousands of flows);
  - a few normal hosts (flow=From-Normal-V42-<name>); everything else is
    flow=Background... / flow=To-Background....

How it streams: every behaviour is a Python generator yielding (start time in
microseconds, rest of the line) in time order; spawners (session arrivals, scan
episodes, ...) start new generators as they go. A heap merges them, so memory
holds only the connections active at one moment, whatever N is.
"""
import argparse
import bisect
import calendar
import heapq
import itertools
import math
import random
import statistics
import sys
import time

HEADER = ('StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,'
          'TotPkts,TotBytes,SrcBytes,SrcPkts,Label\n')
DAY = 86_400
US = 1_000_000
# 2011/08/10 09:46:53.047277 UTC, the start of CTU-13 scenario 1
T0 = calendar.timegm((2011, 8, 10, 9, 46, 53)) * US + 47_277

# Standard normal quantiles: NORM[int(random() * 4096)] is a fast normal sample.
_NORMAL = statistics.NormalDist()
NORM = tuple(_NORMAL.inv_cdf((i + 0.5) / 4096) for i in range(4096))

# Activity of people by UTC hour (the network is in UTC+2), mean 1.
_HOURLY = (0.35, 0.3, 0.25, 0.22, 0.22, 0.3, 0.5, 0.9, 1.4, 1.7, 1.8, 1.7,
           1.5, 1.7, 1.8, 1.7, 1.5, 1.3, 1.1, 1.0, 0.9, 0.75, 0.6, 0.45)
PROFILE = tuple(h * 24 / sum(_HOURLY) for h in _HOURLY)
HOUR = 3600 * US

PUBLIC_FIRST_OCTETS = (8, 13, 17, 23, 31, 34, 35, 37, 46, 52, 54, 62, 64, 66, 69, 72, 74,
                       77, 78, 81, 82, 85, 87, 88, 91, 93, 94, 95, 104, 108, 109, 141,
                       142, 143, 145, 146, 151, 157, 162, 173, 176, 178, 185, 188, 193,
                       194, 195, 198, 199, 204, 205, 206, 207, 208, 209, 212, 213, 216,
                       217)
IPV6_SERVERS = ('2a00:1450:4001:81c::200e', '2a00:1450:400c:c00::bd',
                '2a03:2880:f10c:83:face:b00c:0:25de', '2606:4700::6810:85e5',
                '2620:1ec:c11::200', '2a02:26f0:fd::5c7a:3a9b', '2001:67c:1560:8001::14',
                '2a04:4e42::81', '2600:9000:2156:d600:7:49a5:5fd2:8621',
                '2a01:111:f100:3000::a83e:1905')
NORMAL_NAMES = ('Grill', 'Jist', 'Stribrek', 'MatLab-Server', 'Marcela', 'Stribrka',
                'CVUT-WebServer', 'Gardener')
CC_LABELS = ('CC1-HTTP-Not-Encrypted', 'CC6-Plain-HTTP-Encrypted-Data',
             'CC12-HTTPS', 'CC42-HTTP-Custom-Encryption', 'CC73-Not-Encrypted',
             'CC15-HTTPS-Self-Signed', 'CC3-HTTP-Post', 'CC26-HTTP-Ad')


def geometric_mean(mean):
    """The mean of int(expovariate(1 / mean)): a geometric variable."""
    return 1 / (math.exp(1 / mean) - 1)


class Zipf:
    """Items picked with weights 1/(rank+1)**s, by bisection on cumulative weights."""

    def __init__(self, items, s):
        self.items = items
        cum = list(itertools.accumulate(1 / (i + 1) ** s for i in range(len(items))))
        self.total = cum[-1]
        cum[-1] = math.inf
        self.cum = cum

    def picker(self, rng):
        items, cum, total, random = self.items, self.cum, self.total, rng.random
        find = bisect.bisect_right
        return lambda: items[find(cum, random() * total)]


def make_shape(rng, proto, direction, states, pkts, bpp, dur, src_share=(0.1, 0.5),
               tos=('0', '0'), p_attempt=0.0, attempt_states=('S_', 'S_RA'),
               attempt_dir='   ->', attempt_dtos='0', one_way=False):
    """A function (src, sport, dst, dport, label, attempt_label) -> the line after StartTime.

    pkts = (median, sigma, low, high) of a lognormal packet count, bpp = (low, high)
    bytes per packet, dur = (median seconds, sigma, max seconds); with probability
    p_attempt the flow is a failed attempt (1-2 small packets, attempt_states).
    """
    random = rng.random
    exp = math.exp
    norm = NORM
    p_median, p_sigma, p_low, p_high = pkts
    b_low, b_span = bpp[0], bpp[1] - bpp[0]
    d_median, d_sigma, d_max = dur
    s_low, s_span = src_share[0], src_share[1] - src_share[0]
    stos, dtos = tos
    n_states = len(states)
    n_attempts = len(attempt_states)

    def shape(src, sport, dst, dport, label, attempt_label):
        if p_attempt and random() < p_attempt:
            n = 1 if random() < 0.6 else 2
            size = n * (60 + int(random() * 20))
            seconds = 0.0 if n == 1 else random() * 3
            state = attempt_states[int(random() * n_attempts)]
            return (f',{seconds:.6f},{proto},{src},{sport},{attempt_dir},{dst},{dport},'
                    f'{state},{stos},{attempt_dtos if n == 1 else dtos},{n},{size},'
                    f'{size if n == 1 else size // 2},1,{attempt_label}\n')
        n = int(p_median * exp(p_sigma * norm[int(random() * 4096)]))
        n = p_low if n < p_low else p_high if n > p_high else n
        size = int(n * (b_low + b_span * random()))
        seconds = d_median * exp(d_sigma * norm[int(random() * 4096)])
        if seconds > d_max:
            seconds = d_max * (0.9 + 0.1 * random())
        if one_way or n == 1:
            src_bytes, src_pkts = size, n
        else:
            share = s_low + s_span * random()
            src_bytes = int(size * share) or 1
            src_pkts = int(n * (0.3 + 0.4 * random())) or 1
        state = states[int(random() * n_states)]
        return (f',{seconds:.6f},{proto},{src},{sport},{direction},{dst},{dport},{state},'
                f'{stos},{dtos},{n},{size},{src_bytes},{src_pkts},{label}\n')
    return shape


class Capture:
    """The network, its hosts and behaviours, scaled to about n flows a day."""

    def __init__(self, n, seed):
        self.n = n
        self.rng = rng = random.Random(seed)
        self.pending = []  # generators to start, drained by the merge loop
        self.hosts = hosts = [f'147.32.{84 + i // 250}.{i % 250 + 2}'
                              for i in range(max(40, min(800, n // 3000)))]
        self.gateway = {h: h.rsplit('.', 1)[0] + '.1' for h in hosts}
        self.resolver, self.fileserver, self.monitor, self.webserver, self.mailserver = (
            '147.32.80.9', '147.32.80.5', '147.32.80.3', '147.32.80.20', '147.32.80.25')
        self.ntp_servers = ('147.32.80.9', '195.113.144.201', '193.85.3.51')
        count = len(hosts)
        shuffled = rng.sample(hosts, count)
        self.bots = shuffled[:max(1, min(40, n // 250_000))]
        self.normals = shuffled[len(self.bots):len(self.bots) + max(1, min(8, 1 + n // 250_000))]
        p2p_count = max(1, min(6, count // 100))
        self.p2p_hosts = shuffled[-p2p_count:]
        self.labels = {h: self.host_labels(h) for h in hosts}
        # Activity weights (lognormal): a few hosts do much more than the rest.
        self.web_weight = {h: math.exp(1.1 * rng.gauss(0, 1)) for h in hosts}
        self.dns_weight = {h: self.web_weight[h] * math.exp(0.5 * rng.gauss(0, 1))
                           for h in hosts}
        dual = rng.sample(hosts, max(2, count // 10))
        self.ipv6 = {h: (f'fe80::{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}:'
                         f'{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}',
                         f'2001:718:2:1634:{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}:'
                         f'{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}')
                     for h in dual}
        # External servers, by popularity.
        self.web_servers = [self.public_ip() for _ in range(3000 + n // 150)]
        self.web_port = [443 if rng.random() < 0.72 else 80 if rng.random() < 0.95 else 8080
                         for _ in self.web_servers]
        self.pick_web = Zipf(range(len(self.web_servers)), 1.1).picker(rng)
        self.pick_upstream = Zipf([self.public_ip() for _ in range(1000 + n // 500)],
                                  0.9).picker(rng)
        self.pick_peer = Zipf([(self.public_ip(), rng.randrange(1025, 65535))
                               for _ in range(2000 + n // 300)], 0.7).picker(rng)
        self.pick_mx = Zipf([self.public_ip() for _ in range(3000 + n // 100)],
                            0.8).picker(rng)
        self.pick_client = Zipf([self.public_ip() for _ in range(2000 + n // 200)],
                                1.0).picker(rng)
        self.pick_host_web = self.weighted(hosts, [self.web_weight[h] for h in hosts])
        self.favourites = {}
        self.make_shapes()

    # -- set-up helpers ------------------------------------------------------
    def public_ip(self):
        rng = self.rng
        return (f'{rng.choice(PUBLIC_FIRST_OCTETS)}.{rng.randrange(256)}.'
                f'{rng.randrange(256)}.{rng.randrange(1, 255)}')

    def weighted(self, items, weights):
        cum = list(itertools.accumulate(weights))
        total = cum[-1]
        cum[-1] = math.inf
        random, find = self.rng.random, bisect.bisect_right
        return lambda: items[find(cum, random() * total)]

    def host_labels(self, host):
        kinds = ('tcp', 'tcp-att', 'udp', 'udp-att', 'dns', 'icmp', 'arp', 'v6')
        if host in self.bots:
            return dict(zip(kinds, (
                'flow=From-Botnet-V42-TCP-Established', 'flow=From-Botnet-V42-TCP-Attempt',
                'flow=From-Botnet-V42-UDP-Established', 'flow=From-Botnet-V42-UDP-Attempt',
                'flow=From-Botnet-V42-UDP-DNS', 'flow=From-Botnet-V42-ICMP',
                'flow=From-Botnet-V42-ARP', 'flow=From-Botnet-V42-IPV6')))
        if host in self.normals:
            name = NORMAL_NAMES[self.normals.index(host) % len(NORMAL_NAMES)]
            return dict.fromkeys(kinds, f'flow=From-Normal-V42-{name}')
        return dict(zip(kinds, (
            'flow=Background-TCP-Established', 'flow=Background-TCP-Attempt',
            'flow=Background-UDP-Established', 'flow=Background-UDP-Attempt',
            'flow=To-Background-UDP-CVUT-DNS-Server', 'flow=Background',
            'flow=Background', 'flow=Background')))

    def make_shapes(self):
        rng = self.rng
        tcp_states = ('FSPA_FSPA',) * 5 + ('SRPA_SPA', 'SPA_SRPA', 'FSRPA_FSPA', 'FSPA_FSRPA',
                                           'SRPA_FSPA', 'FSA_FSA', 'SPA_SPA')
        self.web = make_shape(rng, 'tcp', '   ->', tcp_states, (14, 1.3, 2, 60_000),
                              (66, 1200), (0.9, 2.2, 3599), p_attempt=0.04)
        self.dns = make_shape(rng, 'udp', '  <->', ('CON',), (2, 0, 2, 2), (70, 260),
                              (0.02, 1.3, 5), (0.2, 0.45), p_attempt=0.03,
                              attempt_states=('INT',), attempt_dtos='')
        self.ntp = make_shape(rng, 'udp', '  <->', ('CON',), (2, 0, 2, 2), (90, 90),
                              (0.03, 0.8, 2), (0.5, 0.5), p_attempt=0.01,
                              attempt_states=('INT',), attempt_dtos='')
        self.broadcast = make_shape(rng, 'udp', '   ->', ('INT',), (2, 1.0, 1, 400),
                                    (80, 400), (1.5, 2.0, 3599), tos=('0', ''),
                                    one_way=True)
        self.imap = make_shape(rng, 'tcp', '   ->', tcp_states, (10, 0.8, 4, 5000),
                               (70, 700), (2.0, 1.8, 3599), p_attempt=0.02)
        self.arp = make_shape(rng, 'arp', '  who', ('CON', 'CON', 'CON', 'INT'),
                              (2, 0.9, 1, 200), (42, 60), (0.5, 2.5, 3599), (0.5, 0.6),
                              tos=('', ''))
        self.ping = make_shape(rng, 'icmp', '  <->', ('ECO',), (2, 0.2, 2, 8), (98, 98),
                               (0.004, 1.0, 2), (0.5, 0.5), tos=('0', '0'))
        self.unreach = make_shape(rng, 'icmp', '   ->', ('URP', 'URP', 'URH', 'URN'),
                                  (1, 0.3, 1, 3), (70, 590), (0.0005, 2.0, 1),
                                  tos=('0', ''), one_way=True)
        self.v6_udp = make_shape(rng, 'udp', '   ->', ('INT',), (1, 0.8, 1, 80),
                                 (90, 180), (0.5, 2.5, 3599), tos=('0', ''), one_way=True)
        self.v6_icmp = make_shape(rng, 'ipv6-icmp', '   ->', ('INT',), (1, 0.5, 1, 20),
                                  (70, 90), (0.2, 2.0, 3599), tos=('0', ''), one_way=True)
        self.scan_tcp = make_shape(rng, 'tcp', '   ->', ('S_',), (1, 0, 1, 1), (60, 62),
                                   (1e-6, 0, 1e-6), p_attempt=0.35,
                                   attempt_states=('S_RA', 'S_RA', 'S_'))
        self.spam = make_shape(rng, 'tcp', '   ->', tcp_states, (18, 0.9, 6, 400),
                               (80, 700), (1.5, 1.5, 600), (0.6, 0.9), p_attempt=0.45)
        self.ssh = make_shape(rng, 'tcp', '   ->', ('FSPA_FSPA', 'FSPA_FSRPA', 'FSRPA_FSPA'),
                              (24, 0.2, 12, 60), (120, 200), (3.0, 0.5, 30), (0.4, 0.55),
                              p_attempt=0.02)
        self.p2p_udp = make_shape(rng, 'udp', '  <->', ('CON',), (3, 1.4, 2, 20_000),
                                  (80, 1300), (0.3, 2.5, 3599), p_attempt=0.25,
                                  attempt_states=('INT',), attempt_dtos='')
        self.p2p_tcp = make_shape(rng, 'tcp', '   ->', tcp_states, (20, 1.8, 2, 200_000),
                                  (66, 1400), (4.0, 2.2, 3599), p_attempt=0.3)

    # -- behaviours: generators of (time in us, line after StartTime) --------
    def start(self, generator):
        self.pending.append(generator)

    def dns_client(self, host, share):
        """Bursts of queries from one host to its resolver(s)."""
        rng, random, expo = self.rng, self.rng.random, self.rng.expovariate
        labels = self.labels[host]
        if host in self.bots:
            resolvers = ('8.8.8.8', self.resolver) if random() < 0.7 else (self.resolver,)
        elif random() < 0.12:
            resolvers = (self.resolver, rng.choice(('8.8.8.8', '8.8.4.4', '1.1.1.1')))
        else:
            resolvers = (self.resolver,)
        label = labels['dns']
        other = label if host in self.bots else labels['udp']
        burst_mean = 1 + geometric_mean(1.8)
        rate = share * self.n / DAY / burst_mean  # bursts per second
        shape = self.dns
        t = T0 + int(expo(rate) * US)
        while True:
            dst = resolvers[0] if len(resolvers) == 1 or random() < 0.75 else resolvers[1]
            lab = label if dst == self.resolver else other
            for _ in range(1 + int(expo(1 / 1.8))):
                yield t, shape(host, 1024 + int(random() * 64_500), dst, 53, lab,
                               labels['udp-att'])
                t += int(random() * 40_000)
            t += int(expo(rate * PROFILE[t // HOUR % 24]) * US)

    def dns_upstream(self, share):
        """The local resolver asks authoritative servers."""
        random, expo, pick = self.rng.random, self.rng.expovariate, self.pick_upstream
        rate = share * self.n / DAY
        label = 'flow=From-Normal-V42-UDP-CVUT-DNS-Server'
        shape, src = self.dns, self.resolver
        t = T0
        while True:
            t += int(expo(rate * PROFILE[t // HOUR % 24]) * US)
            yield t, shape(src, 1024 + int(random() * 64_500), pick(), 53, label, label)

    def web_sessions(self, share):
        """Browsing sessions: each touches a few servers with bursts of flows."""
        random, expo = self.rng.random, self.rng.expovariate
        k_mean, m_short, m_long, p_long = 4.0, 2.5, 30.0, 0.06
        per_connection = (1 + (1 - p_long) * geometric_mean(m_short)
                          + p_long * geometric_mean(m_long))
        rate = share * self.n / DAY / ((1 + geometric_mean(k_mean)) * per_connection)
        servers, ports = self.web_servers, self.web_port
        pick_rank = Zipf(range(40), 1.0).picker(self.rng)  # each host's favourite sites
        t = T0
        while True:
            t += int(expo(rate * PROFILE[t // HOUR % 24]) * US)
            yield t, None
            host = self.pick_host_web()
            labels = self.labels[host]
            favourites = self.favourites.get(host)
            if favourites is None:
                favourites = self.favourites[host] = [self.pick_web() for _ in range(40)]
            at = t
            for _ in range(1 + int(expo(1 / k_mean))):
                server = favourites[pick_rank()] if random() < 0.8 else self.pick_web()
                port = ports[server] if random() < 0.9 else (80 if ports[server] == 443 else 443)
                m = 1 + int(expo(1 / (m_long if random() < p_long else m_short)))
                self.start(self.web_connection(at, host, servers[server], port, m,
                                               labels['tcp'], labels['tcp-att']))
                at += int(expo(1.5) * US)

    def web_connection(self, t, src, dst, port, flows, label, attempt_label):
        random, expo, shape = self.rng.random, self.rng.expovariate, self.web
        for _ in range(flows):
            yield t, shape(src, 1024 + int(random() * 64_500), dst, port, label, attempt_label)
            u = random()
            t += int((expo(0.5) if u < 0.7 else expo(1 / 40) if u < 0.95
                      else 60 + random() * 840) * US)

    def inbound_web(self, share):
        """Outside clients of the local web server."""
        random, expo = self.rng.random, self.rng.expovariate
        per_session = 1 + geometric_mean(3.0)
        rate = share * self.n / DAY / per_session
        label = 'flow=To-Background-CVUT-WebServer'
        t = T0
        while True:
            t += int(expo(rate * PROFILE[t // HOUR % 24]) * US)
            yield t, None
            port = 443 if random() < 0.7 else 80
            self.start(self.web_connection(t, self.pick_client(), self.webserver, port,
                                           1 + int(expo(1 / 3.0)), label,
                                           'flow=Background-TCP-Attempt'))

    def periodic(self, src, sport, dst, dport, shape, period, jitter, label, attempt_label,
                 p_outage=0.0):
        """Flows every `period` seconds +- jitter (a fraction), sometimes with an outage."""
        random = self.rng.random
        t = T0 + int(random() * period * US)
        while True:
            port = sport if sport is not None else 1024 + int(random() * 64_500)
            yield t, shape(src, port, dst, dport, label, attempt_label)
            t += int(period * (1 + jitter * (2 * random() - 1)) * US)
            if p_outage and random() < p_outage:
                t += int((3600 + random() * 3 * 3600) * US)

    def local_services(self, share):
        """NTP, SSDP, mDNS, NetBIOS, IMAP per host, and ARP for the gateway."""
        rng, starts = self.rng, []
        for host in self.hosts:
            labels = self.labels[host]
            udp, udp_att = labels['udp'], labels['udp-att']
            broadcast = host.rsplit('.', 1)[0] + '.255'
            choices = [(host, 123, rng.choice(self.ntp_servers), 123, self.ntp, 1.0, 0.02,
                        udp, udp_att)]
            if rng.random() < 0.5:
                choices.append((host, None, '239.255.255.250', 1900, self.broadcast, 1.0, 0.3,
                                udp_att, udp_att))
            if rng.random() < 0.4:
                choices.append((host, 5353, '224.0.0.251', 5353, self.broadcast, 1.0, 0.4,
                                udp_att, udp_att))
            if rng.random() < 0.3:
                choices.append((host, 137, broadcast, 137, self.broadcast, 2.0, 0.5,
                                udp_att, udp_att))
            if rng.random() < 0.35:
                choices.append((host, None, self.mailserver, 993, self.imap, 1.0, 0.6,
                                labels['tcp'], labels['tcp-att']))
            if rng.random() < 0.25:
                choices.append((host, None, self.fileserver, 445, self.imap, 1.5, 0.7,
                                labels['tcp'], labels['tcp-att']))
            starts.extend(choices)
        weight = sum(c[5] for c in starts)
        scale = weight * DAY / (share * self.n)  # seconds between flows, per unit weight
        for src, sport, dst, dport, shape, relative, jitter, label, attempt in starts:
            self.start(self.periodic(src, sport, dst, dport, shape, scale * relative, jitter,
                                     label, attempt))

    def arp_requests(self, share):
        period = len(self.hosts) * 1.1 * DAY / (share * self.n)
        for host in self.hosts:
            label = self.labels[host]['arp']
            self.start(self.periodic(host, '', self.gateway[host], '', self.arp, period, 0.5,
                                     label, label))
        # the gateways ask for a tenth of the hosts
        for host in self.hosts[::10]:
            self.start(self.periodic(self.gateway[host], '', host, '', self.arp, period, 0.5,
                                     'flow=Background', 'flow=Background'))

    def icmp_traffic(self, share):
        """Monitoring pings every minute, ad-hoc ping runs, port unreachables."""
        rng = self.rng
        targets = max(1, int(share * 0.6 * self.n / (DAY / 60)))
        for _ in range(targets):
            dst = rng.choice(self.hosts) if rng.random() < 0.7 else self.public_ip()
            ident = f'0x{rng.randrange(1, 1 << 16):04x}'
            self.start(self.periodic(self.monitor, '0x0008', dst, ident, self.ping, 60, 0.01,
                                     'flow=Background', 'flow=Background'))
        self.start(self.ping_runs(share * 0.3))
        self.start(self.unreachables(share * 0.1))

    def ping_runs(self, share):
        random, expo = self.rng.random, self.rng.expovariate
        mean = 1 + geometric_mean(10)
        rate = share * self.n / DAY / mean
        t = T0
        while True:
            t += int(expo(rate * PROFILE[t // HOUR % 24]) * US)
            yield t, None
            host = self.pick_host_web()
            dst = self.web_servers[self.pick_web()]
            ident = f'0x{int(random() * 65535) + 1:04x}'
            self.start(self.run(t, host, '0x0008', dst, ident, self.ping,
                                1 + int(expo(1 / 10)), 1.0, self.labels[host]['icmp']))

    def run(self, t, src, sport, dst, dport, shape, flows, gap, label):
        random = self.rng.random
        for _ in range(flows):
            yield t, shape(src, sport, dst, dport, label, label)
            t += int(gap * (0.95 + 0.1 * random()) * US)

    def unreachables(self, share):
        random, expo = self.rng.random, self.rng.expovariate
        rate = share * self.n / DAY
        hosts, shape = self.hosts, self.unreach
        t = T0
        while True:
            t += int(expo(rate) * US)
            host = hosts[int(random() * len(hosts))]
            peer = self.pick_peer()[0] if random() < 0.5 else self.resolver
            yield t, shape(host, '0x0003', peer, '0x0003', self.labels[host]['icmp'], '')

    def ipv6_traffic(self, share):
        """Link-local chatter of dual-stack hosts, and some global IPv6 web."""
        rng, starts = self.rng, []
        for host, (local, _) in self.ipv6.items():
            label = self.labels[host]['v6']
            starts.append((local, 546, 'ff02::1:2', 547, self.v6_udp, 1.0, 0.3, label))
            starts.append((local, '0x0085', 'ff02::2', '0x0000', self.v6_icmp, 1.5, 0.5, label))
            if rng.random() < 0.5:
                starts.append((local, 5353, 'ff02::fb', 5353, self.v6_udp, 1.0, 0.4, label))
        weight = sum(s[5] for s in starts)
        scale = weight * DAY / (share * 0.5 * self.n)
        for src, sport, dst, dport, shape, relative, jitter, label in starts:
            self.start(self.periodic(src, sport, dst, dport, shape, scale * relative, jitter,
                                     label, label))
        self.start(self.ipv6_web(share * 0.5))

    def ipv6_web(self, share):
        random, expo = self.rng.random, self.rng.expovariate
        per_connection = 1 + geometric_mean(4)
        rate = share * self.n / DAY / per_connection
        dual = list(self.ipv6.items())
        t = T0
        while True:
            t += int(expo(rate * PROFILE[t // HOUR % 24]) * US)
            yield t, None
            host, (_, address) = dual[int(random() * len(dual))]
            labels = self.labels[host]
            server = IPV6_SERVERS[min(int(expo(0.4)), len(IPV6_SERVERS) - 1)]
            self.start(self.web_connection(t, address, server, 443, 1 + int(expo(1 / 4)),
                                           labels['v6'], labels['v6']))

    def transfers(self, share):
        """Backups, downloads, scp: large, long flows; argus cuts them every 3600 s."""
        random, expo, lognormal = self.rng.random, self.rng.expovariate, self.rng.lognormvariate
        rate = share * self.n / DAY / 1.6
        t = T0
        while True:
            t += int(expo(rate * PROFILE[t // HOUR % 24]) * US)
            yield t, None
            host = self.pick_host_web()
            labels = self.labels[host]
            u = random()
            if u < 0.3:
                dst, port = self.fileserver, 445
            elif u < 0.45:
                dst, port = self.web_servers[self.pick_web()], 22
            else:
                server = self.pick_web()
                dst, port = self.web_servers[server], 443
            seconds = min(12 * 3600.0, 30 + lognormal(math.log(900), 1.3))
            self.start(self.transfer_flows(t, host, dst, port, seconds,
                                           lognormal(math.log(2e6), 1.2), labels['tcp']))

    def transfer_flows(self, t, src, dst, dport, seconds, bytes_per_second, label):
        random = self.rng.random
        sport = 1024 + int(random() * 64_500)
        upload = random() < 0.4
        while seconds > 0:
            part = min(seconds, 3600.0 - random())
            size = int(part * bytes_per_second * (0.7 + 0.6 * random())) + 1000
            pkts = size // 1200 + 2
            src_bytes = int(size * (0.97 if upload else 0.03)) + 60
            state = 'FSPA_FSPA' if part == seconds else 'SPA_SPA'
            yield t, (f',{part:.6f},tcp,{src},{sport},   ->,{dst},{dport},{state},0,0,{pkts},'
                      f'{size},{src_bytes},{pkts // 2},{label}\n')
            t += int(3600 * US)
            seconds -= part

    def p2p(self, share):
        random, expo = self.rng.random, self.rng.expovariate
        per_connection = 1 + geometric_mean(6)
        rate = share * self.n / DAY / per_connection
        t = T0
        while True:
            t += int(expo(rate * PROFILE[t // HOUR % 24]) * US)
            yield t, None
            host = self.p2p_hosts[int(random() * len(self.p2p_hosts))]
            labels = self.labels[host]
            peer, port = self.pick_peer()
            if random() < 0.7:
                shape, label, attempt = self.p2p_udp, labels['udp'], labels['udp-att']
            else:
                shape, label, attempt = self.p2p_tcp, labels['tcp'], labels['tcp-att']
            self.start(self.peer_flows(t, host, peer, port, shape, 1 + int(expo(1 / 6)),
                                       label, attempt))

    def peer_flows(self, t, src, dst, dport, shape, flows, label, attempt):
        random, expo = self.rng.random, self.rng.expovariate
        for _ in range(flows):
            yield t, shape(src, 1024 + int(random() * 64_500), dst, dport, label, attempt)
            t += int(expo(1 / 90) * US)

    def botnet(self, share_cc, share_spam):
        """C&C channels, spam and scans of the infected hosts."""
        rng = self.rng
        channels = []
        for bot in self.bots:
            for _ in range(1 + (rng.random() < 0.6) + (rng.random() < 0.3)):
                channels.append(bot)
        periods = [rng.choice((10, 20, 30, 60, 60, 120, 180, 300, 600))
                   * (0.8 + 0.4 * rng.random()) for _ in channels]
        # scale the periods so the channels give about share_cc of the flows
        factor = sum(DAY / p for p in periods) / (share_cc * self.n)
        factor = min(max(factor, 0.25), 20)
        for index, (bot, period) in enumerate(zip(channels, periods)):
            period *= factor
            https = rng.random() < 0.45
            port = 443 if https else rng.choice((80, 80, 80, 8080))
            name = CC_LABELS[index % len(CC_LABELS)]
            label = f'flow=From-Botnet-V42-TCP-{name}'
            self.start(self.beacon(bot, self.public_ip(), port, period, label))
        spammers = [bot for bot in self.bots if rng.random() < 0.5] or self.bots[:1]
        for bot in spammers:
            self.start(self.spam_flows(bot, share_spam / len(spammers)))

    def beacon(self, src, dst, dport, period, label):
        """Jittered periodic check-ins; now and then a command (large) or an outage."""
        rng = self.rng
        random, exp, norm = rng.random, math.exp, NORM
        size = rng.choice((180, 400, 700, 1500, 4000, 20_000))
        seconds = rng.choice((0.05, 0.3, 1.2, 4, 15, 40))
        jitter = rng.choice((0.01, 0.03, 0.1, 0.3))
        attempt = label.replace('TCP-', 'TCP-Attempt-', 1)
        t = T0 + int(random() * period * US)
        while True:
            if random() < 0.02:
                yield t, (f',{random() * 3:.6f},tcp,{src},{1024 + int(random() * 64_500)},   ->,'
                          f'{dst},{dport},S_RA,0,0,2,124,62,1,{attempt}\n')
            else:
                b = int(size * exp(0.25 * norm[int(random() * 4096)]))
                if random() < 0.04:
                    b *= 30
                pkts = b // 500 + 4
                d = seconds * exp(0.4 * norm[int(random() * 4096)])
                yield t, (f',{d:.6f},tcp,{src},{1024 + int(random() * 64_500)},   ->,{dst},'
                          f'{dport},FSPA_FSPA,0,0,{pkts},{b},{b // 3 + 60},{pkts // 2},{label}\n')
            t += int(period * (1 + jitter * (2 * random() - 1)) * US)
            if random() < 0.002:
                t += int((3600 + random() * 4 * 3600) * US)

    def spam_flows(self, bot, share):
        random, expo, pick, shape = self.rng.random, self.rng.expovariate, self.pick_mx, self.spam
        rate = share * self.n / DAY
        # spam goes out in campaigns: active a third of the time, three times as fast
        t = T0 + int(random() * 3600 * US)
        while True:
            end = t + int(expo(1 / 3600) * US)
            while t < end:
                yield t, shape(bot, 1024 + int(random() * 64_500), pick(), 25,
                               'flow=From-Botnet-V42-TCP-Established-SPAM',
                               'flow=From-Botnet-V42-TCP-Attempt-SPAM')
                t += int(expo(3 * rate) * US)
            t += int(expo(1 / 7200) * US)

    def scans(self, share):
        """Scan episodes: vertical and horizontal, from outside and from bots."""
        random, expo, lognormal = self.rng.random, self.rng.expovariate, self.rng.lognormvariate
        mean = 20 + math.exp(5 + 1.1 ** 2 / 2) * 0.9  # the cap trims the lognormal a little
        rate = share * self.n / DAY / mean
        t = T0
        while True:
            t += int(expo(rate) * US)
            yield t, None
            size = int(20 + min(lognormal(5, 1.1), 20_000))
            u = random()
            if u < 0.35:  # vertical, outside -> one local host
                src = self.public_ip()
                dst = self.hosts[int(random() * len(self.hosts))]
                ports = range(1, size + 1) if random() < 0.5 else random_ports(self.rng, size)
                targets = vertical(dst, ports)
                label = 'flow=Background-TCP-Attempt'
            elif u < 0.7:  # horizontal, outside -> local hosts on a few ports
                src = self.public_ip()
                ports = self.rng.sample((22, 23, 445, 3389, 8080, 1433, 5900, 3306), 4)
                targets = horizontal(self.hosts, ports, size)
                label = 'flow=Background-TCP-Attempt'
            else:  # horizontal, a bot -> random Internet addresses
                src = self.bots[int(random() * len(self.bots))]
                targets = internet(random, self.rng.choice((445, 139, 23, 80)), size)
                label = 'flow=From-Botnet-V42-TCP-Attempt'
            self.start(self.scan_flows(t, src, targets, 1 / (2 + expo(1 / 40)), label))

    def scan_flows(self, t, src, targets, gap, label):
        random, shape = self.rng.random, self.scan_tcp
        sport = 1024 + int(random() * 60_000)
        for dst, port in targets:
            yield t, shape(src, sport, dst, port, label, label)
            t += int(gap * (0.5 + random()) * US)
            sport += 1

    def ssh_bruteforce(self, share):
        random, expo = self.rng.random, self.rng.expovariate
        mean = 1 + geometric_mean(1500)
        rate = share * self.n / DAY / mean
        t = T0
        while True:
            t += int(expo(rate) * US)
            yield t, None
            target = self.hosts[int(random() * len(self.hosts))]
            self.start(self.run(t, self.public_ip(), None, target, 22, self.ssh,
                                1 + int(expo(1 / 1500)), 1 + 4 * random(),
                                'flow=Background-TCP-Established'))

    def behaviours(self):
        """Start everything with its share of the flows."""
        dns_weights = sum(self.dns_weight.values())
        for host in self.hosts:
            self.start(self.dns_client(host, 0.20 * self.dns_weight[host] / dns_weights))
        self.start(self.dns_upstream(0.05))
        self.start(self.web_sessions(0.46))
        self.start(self.inbound_web(0.03))
        self.local_services(0.09)
        self.arp_requests(0.01)
        self.icmp_traffic(0.02)
        self.ipv6_traffic(0.01)
        self.start(self.transfers(0.003))
        self.start(self.p2p(0.05))
        self.botnet(0.02, 0.008)
        self.start(self.scans(0.012))
        self.start(self.ssh_bruteforce(0.008))


def vertical(dst, ports):
    for port in ports:
        yield dst, port


def horizontal(hosts, ports, count):
    for i in range(count):
        yield hosts[i % len(hosts)], ports[i // len(hosts) % len(ports)]


def internet(random, port, count):
    for _ in range(count):
        yield random_ip(random), port


def random_ports(rng, count):
    return rng.sample(range(1, 65536), min(count, 65535))


def random_ip(random):
    return (f'{PUBLIC_FIRST_OCTETS[int(random() * len(PUBLIC_FIRST_OCTETS))]}.'
            f'{int(random() * 256)}.{int(random() * 256)}.{int(random() * 254) + 1}')


def generate(n, out, seed=1, header=True):
    """Write n flows to the text stream out, in time order."""
    capture = Capture(max(n, 1), seed)
    capture.behaviours()
    if header:
        out.write(HEADER)
    heap, pending = [], capture.pending
    counter = itertools.count()
    push, replace = heapq.heappush, heapq.heapreplace
    buffer = []
    append = buffer.append
    last_second = last_minute = -1
    minute_prefix = stamp = ''
    written = 0
    gmtime, strftime = time.gmtime, time.strftime
    while True:
        while pending:
            generator = pending.pop()
            for first, rest in generator:
                push(heap, (first, next(counter), rest, generator))
                break
        if written >= n or not heap:
            break
        t, _, rest, generator = heap[0]
        if rest is not None:
            second = t // US
            if second != last_second:
                last_second = second
                if second // 60 != last_minute:
                    last_minute = second // 60
                    minute_prefix = strftime('%Y/%m/%d %H:%M:', gmtime(second))
                stamp = f'{minute_prefix}{second % 60:02d}.'
            append(f'{stamp}{t % US:06d}{rest}')
            written += 1
            if len(buffer) >= 20_000:
                out.write(''.join(buffer))
                buffer.clear()
        for t, rest in generator:
            replace(heap, (t, next(counter), rest, generator))
            break
        else:
            heapq.heappop(heap)
    out.write(''.join(buffer))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('flows', type=int, help='number of flows to write')
    parser.add_argument('out', help="output file ('-' for stdout)")
    parser.add_argument('--seed', type=int, default=1, help='random seed (default 1)')
    parser.add_argument('--no-header', action='store_true', help='omit the header line')
    args = parser.parse_args(argv)
    began = time.perf_counter()
    if args.out == '-':
        try:
            written = generate(args.flows, sys.stdout, args.seed, not args.no_header)
            sys.stdout.flush()
        except BrokenPipeError:  # e.g. | head
            sys.stderr.close()
            return 0
    else:
        with open(args.out, 'w', buffering=1 << 20) as out:
            written = generate(args.flows, out, args.seed, not args.no_header)
    print(f'{written:,} flows in {time.perf_counter() - began:.1f} s', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
