import crypto from 'node:crypto';
import { expect } from 'chai';
import { createCertificateAuthority, issueServerCertificate, normaliseIp, summariseCertificate } from '../../server/pki/certificates.ts';

describe('certificates (node-forge)', () => {
  it('issues a certificate with Chinese institution names that standard tools read and verify', () => {
    const ca = createCertificateAuthority({ commonName: '某某县人民医院 CA', organizationName: '某某县人民医院', countryName: 'CN' }, 30);
    const issued = issueServerCertificate(ca, {
      subject: { commonName: '会诊服务器', organizationName: '某某县人民医院' },
      dnsNames: ['huizhen.hospital.local'],
      ipAddresses: ['10.0.0.8', '::1'],
      days: 10,
    });
    const cert = new crypto.X509Certificate(issued.certificatePem);
    const caCert = new crypto.X509Certificate(ca.certificatePem);
    expect(cert.subject).to.include('CN=会诊服务器');
    expect(cert.issuer).to.include('CN=某某县人民医院 CA');
    expect(cert.issuer).to.equal(caCert.subject);
    expect(cert.checkIssued(caCert)).to.equal(true);
    expect(cert.verify(caCert.publicKey)).to.equal(true);
    expect(cert.checkPrivateKey(crypto.createPrivateKey(issued.privateKeyPem))).to.equal(true);
    expect(cert.ca).to.equal(false);
    expect(caCert.ca).to.equal(true);
    const summary = summariseCertificate(issued.certificatePem);
    expect(summary.dnsNames).to.deep.equal(['huizhen.hospital.local']);
    expect(summary.ipAddresses).to.deep.equal(['10.0.0.8', '::1']);
    expect(summary.notAfter.getTime()).to.be.closeTo(Date.now() + 10 * 86400_000, 600_000);
  });

  it('gives every certificate a distinct positive serial number', () => {
    const ca = createCertificateAuthority({ commonName: 'Serial CA' }, 1);
    const serials = new Set(
      Array.from({ length: 3 }, () =>
        new crypto.X509Certificate(issueServerCertificate(ca, { subject: { commonName: 's' }, dnsNames: ['s'], ipAddresses: [], days: 1 }).certificatePem).serialNumber,
      ),
    );
    expect(serials.size).to.equal(3);
    for (const s of serials) expect(parseInt(s.slice(0, 2), 16)).to.be.below(0x80);
  });

  it('compares IPv6 addresses in canonical form', () => {
    expect(normaliseIp('0:0:0:0:0:0:0:1')).to.equal('::1');
    expect(normaliseIp('FE80:0:0:0:0:0:0:1')).to.equal('fe80::1');
    expect(normaliseIp('10.1.2.3')).to.equal('10.1.2.3');
  });
});
