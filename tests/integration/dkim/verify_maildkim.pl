#!/usr/bin/perl
# verify_maildkim.pl -- verify every DKIM-Signature of one or more messages with Mail::DKIM,
# answering the key lookups from a directory of TXT records instead of DNS.
#
#   perl verify_maildkim.pl [-H] RECORDS_DIR MESSAGE...
#
# RECORDS_DIR holds files named <selector>._domainkey.<domain>.txt whose content is the TXT
# record text ("v=DKIM1; k=rsa; p=..."). A name without a file answers NXDOMAIN. No network.
#
# Output, one line per DKIM-Signature header field, in header order (prefixed with
# "MESSAGE: " when -H is given or when there are several messages):
#   pass d=DOMAIN s=SELECTOR a=ALGORITHM
#   fail d=DOMAIN s=SELECTOR a=ALGORITHM (REASON)
#   skip d=DOMAIN s=SELECTOR a=ed25519-sha256 (REASON)
# Debian 12's Mail::DKIM (1.20230212) has no Ed25519 (RFC 8463), so those signatures are
# reported as "skip" and are neither a pass nor a failure. A message with no signature at
# all gets one "fail" line.
#
# Exit status: 0 if every message had at least one signature and every signature passed or
# was skipped; 1 if any failed; 2 on bad usage or if Mail::DKIM / Net::DNS cannot be loaded
# (a verifier that cannot run is a failure, never a skip).
use strict;
use warnings;

BEGIN {
    for my $module (qw(Mail::DKIM::Verifier Mail::DKIM::DNS Net::DNS)) {
        eval "require $module; 1" or do {
            print STDERR "verify_maildkim: cannot load $module: $@";
            exit 2;
        };
    }
}

# A stand-in for Net::DNS::Resolver: Mail::DKIM::DNS::query() calls send() and, when the
# answer is empty, errorstring(). query/search/bgsend/bgread/bgbusy are here too so any
# other code path of Mail::DKIM finds the same answers.
package DirResolver;

sub new {
    my ( $class, $dir ) = @_;
    return bless { dir => $dir, errorstring => 'NOERROR' }, $class;
}

sub _txt_strings {
    my ($text) = @_;
    # RFC 1035 §3.3.14: a TXT RDATA is a sequence of <character-string>s of at most 255
    # octets; long DKIM records are published split, and verifiers must concatenate them.
    my @strings;
    push @strings, substr( $text, 0, 255, '' ) while length $text;
    return @strings ? @strings : ('');
}

sub send {
    my ( $self, $name, $type, $class ) = @_;
    $type ||= 'A';
    ( my $qname = lc $name ) =~ s/\.\z//;
    my $packet = Net::DNS::Packet->new( $qname, $type, 'IN' );
    $packet->header->qr(1);
    $packet->header->aa(1);
    my $file = "$self->{dir}/$qname.txt";
    if ( $qname =~ m{/} || !-f $file ) {
        $packet->header->rcode('NXDOMAIN');
        $self->{errorstring} = 'NXDOMAIN';
        return $packet;
    }
    $self->{errorstring} = 'NOERROR';
    if ( uc $type eq 'TXT' ) {
        open my $fh, '<', $file or die "cannot read $file: $!\n";
        local $/;
        my $text = <$fh>;
        close $fh;
        $text =~ s/[\r\n]+\z//;
        $packet->push(
            answer => Net::DNS::RR->new(
                name    => $qname,
                type    => 'TXT',
                ttl     => 300,
                txtdata => [ _txt_strings($text) ],
            )
        );
    }
    return $packet;
}

sub query {
    my $self   = shift;
    my $packet = $self->send(@_);
    return scalar( $packet->answer ) ? $packet : undef;
}
sub search      { my $self = shift; return $self->query(@_) }
sub bgsend      { my $self = shift; return $self->send(@_) }
sub bgread      { my ( $self, $handle ) = @_; return $handle }
sub bgbusy      { return 0 }
sub errorstring { return $_[0]->{errorstring} }

package main;

sub usage {
    print STDERR "usage: verify_maildkim.pl [-H] RECORDS_DIR MESSAGE...\n";
    exit 2;
}

my $with_name = 0;
while ( @ARGV && $ARGV[0] =~ /^-/ ) {
    my $opt = shift @ARGV;
    if    ( $opt eq '-H' || $opt eq '--with-filename' ) { $with_name = 1 }
    elsif ( $opt eq '--' )                              { last }
    else                                                { usage() }
}
usage() if @ARGV < 2;
my ( $records, @messages ) = @ARGV;
-d $records or do { print STDERR "verify_maildkim: $records: not a directory\n"; exit 2 };
$with_name = 1 if @messages > 1;

Mail::DKIM::DNS::resolver( DirResolver->new($records) );

sub tidy {
    my ($s) = @_;
    $s = '' unless defined $s;
    $s =~ s/\s+/ /g;
    $s =~ s/^ | $//g;
    return $s;
}

my $all_ok = 1;
for my $path (@messages) {
    my $prefix = $with_name ? "$path: " : '';
    my $fh;
    unless ( open $fh, '<:raw', $path ) {
        print "${prefix}fail d=? s=? a=? (cannot open: $!)\n";
        $all_ok = 0;
        next;
    }
    my $verifier = Mail::DKIM::Verifier->new();
    my $ok = eval {
        local $/ = \65536;    # raw chunks: the parser itself splits on CRLF
        while ( my $chunk = <$fh> ) { $verifier->PRINT($chunk) }
        $verifier->CLOSE;
        1;
    };
    close $fh;
    unless ($ok) {
        print "${prefix}fail d=? s=? a=? (Mail::DKIM died: " . tidy($@) . ")\n";
        $all_ok = 0;
        next;
    }
    my @sigs = grep { ref($_) eq 'Mail::DKIM::Signature' } $verifier->signatures;
    unless (@sigs) {
        print "${prefix}fail d=? s=? a=? (no DKIM-Signature header field)\n";
        $all_ok = 0;
        next;
    }
    for my $sig (@sigs) {
        my $d = $sig->domain    // '?';
        my $s = $sig->selector  // '?';
        my $a = $sig->algorithm // '?';
        my $result = $sig->result // 'none';
        my $ids = "d=$d s=$s a=$a";
        my $detail = tidy( $sig->result_detail );
        if ( lc $a eq 'ed25519-sha256' && $result ne 'pass' && $detail =~ /unsupported algorithm/ ) {
            print "${prefix}skip $ids (Mail::DKIM $Mail::DKIM::Verifier::VERSION has no Ed25519: $detail)\n";
        }
        elsif ( $result eq 'pass' ) {
            print "${prefix}pass $ids\n";
        }
        else {
            print "${prefix}fail $ids ($detail)\n";
            $all_ok = 0;
        }
    }
}
exit( $all_ok ? 0 : 1 );
