"""The olm adapter against matrix-nio's own vodozemac wrapper and the wire formats.

nio (vodozemac) plays the other device: what the adapter encrypts nio decrypts and the other
way round, so mautrix.crypto speaks the same Olm and Megolm v1 as Element and nio do.
"""

from __future__ import annotations

import base64
import json
import sys

import pytest

import bot.crypto  # noqa: F401  (installs the adapter before mautrix.crypto)
from bot.crypto import olm_adapter as olm
from mautrix.crypto import InboundGroupSession, OlmAccount, OutboundGroupSession
from mautrix.crypto.signature import sign_olm, verify_signature_json
from mautrix.types import OlmCiphertext, OlmMsgType, RoomID
from nio.crypto import sessions as nio_sessions


def _raw(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def test_mautrix_imports_the_adapter_as_olm():
    assert sys.modules["olm"] is olm


def test_install_refuses_another_olm_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "olm", object())
    with pytest.raises(RuntimeError, match="vodozemac"):
        olm.install()


def test_olm_session_both_ways_with_nio():
    bot_account = OlmAccount()  # mautrix's subclass on the adapter
    person = nio_sessions.OlmAccount()
    person.generate_one_time_keys(1)
    one_time_key = next(iter(person.one_time_keys["curve25519"].values()))

    outbound = bot_account.new_outbound_session(person.identity_keys["curve25519"], one_time_key)
    first = outbound.encrypt('{"type": "m.room_key"}')
    assert first.type == OlmMsgType.PREKEY
    import vodozemac

    inbound = nio_sessions.InboundSession(person, vodozemac.PreKeyMessage.from_base64(first.body), bot_account.identity_key)
    assert inbound.decrypt(vodozemac.PreKeyMessage.from_base64(first.body)) == '{"type": "m.room_key"}'

    answer_type, answer = inbound.encrypt("answer").to_parts()
    assert answer_type == 1
    body = base64.b64encode(answer).decode().rstrip("=")
    assert outbound.decrypt(OlmCiphertext(type=OlmMsgType.MESSAGE, body=body)) == "answer"


def test_inbound_session_from_a_pre_key_message_decrypts_it_once():
    person = nio_sessions.OlmAccount()
    bot_account = OlmAccount()
    bot_account.generate_one_time_keys(1)
    one_time_key = next(iter(bot_account.one_time_keys["curve25519"].values()))
    outbound = nio_sessions.OutboundSession(person, bot_account.identity_key, one_time_key)
    message_type, raw = outbound.encrypt("hello bot").to_parts()
    assert message_type == 0
    body = base64.b64encode(raw).decode().rstrip("=")

    session = bot_account.new_inbound_session(person.identity_keys["curve25519"], body)
    assert session.matches(body)
    ciphertext = OlmCiphertext(type=OlmMsgType.PREKEY, body=body)
    assert session.decrypt(ciphertext) == "hello bot"
    # the message key is spent: a replay is refused, as libolm refuses it
    with pytest.raises(olm.OlmSessionError):
        session.decrypt(ciphertext)
    # and the one-time key is gone: the same message cannot start a second session
    with pytest.raises(olm.OlmSessionError):
        bot_account.new_inbound_session(person.identity_keys["curve25519"], body)


def test_megolm_v1_with_nio_both_ways():
    room = RoomID("!room:example.org")
    outbound = OutboundGroupSession(room)
    outbound.shared = True
    key_at_zero = outbound.session_key
    ciphertext = outbound.encrypt(json.dumps({"body": "hi"}))
    # m.megolm.v1.aes-sha2: version 3, 8-byte MAC and 64-byte signature after the payload
    raw = _raw(ciphertext)
    assert raw[0] == 3 and len(raw) == 1 + 2 + 2 + 16 + 8 + 64
    theirs = nio_sessions.InboundGroupSession(key_at_zero, "ed", "curve", room)
    assert theirs.decrypt(ciphertext) == ('{"body": "hi"}', 0)

    nio_outbound = nio_sessions.OutboundGroupSession()
    nio_outbound.shared = True
    ours = InboundGroupSession(nio_outbound.session_key, "ed", "curve", room)
    assert ours.decrypt(nio_outbound.encrypt("first")) == ("first", 0)
    assert ours.decrypt(nio_outbound.encrypt("second")) == ("second", 1)
    exported = ours.export_session(1)
    later = InboundGroupSession.import_session(exported, "ed", "curve", room)
    assert later.first_known_index == 1
    with pytest.raises(olm.OlmGroupSessionError):
        later.decrypt(ciphertext)  # another session's message


def test_pickles_keep_state_and_need_the_passphrase():
    account = OlmAccount()
    account.generate_one_time_keys(3)
    restored = OlmAccount.from_pickle(account.pickle("secret"), "secret", shared=True)
    assert restored.identity_keys == account.identity_keys
    assert restored.one_time_keys == account.one_time_keys
    with pytest.raises(olm.OlmAccountError):
        OlmAccount.from_pickle(account.pickle("secret"), "wrong", shared=True)

    group = olm.OutboundGroupSession()
    group.encrypt("one")
    again = olm.OutboundGroupSession.from_pickle(group.pickle("k"), "k")
    assert (again.id, again.message_index) == (group.id, 1)


def test_device_keys_and_cross_signing_signatures_verify_independently():
    account = OlmAccount()
    device = account.get_device_keys("@bot:example.org", "OPSROOM")
    signed = device.serialize()
    assert verify_signature_json(signed, "@bot:example.org", "OPSROOM", account.signing_key)

    signing = olm.PkSigning(olm.PkSigning.generate_seed())
    data = {"user_id": "@bot:example.org", "usage": ["self_signing"]}
    signature = sign_olm(dict(data), signing)
    data["signatures"] = {"@bot:example.org": {f"ed25519:{signing.public_key}": signature}}
    assert verify_signature_json(data, "@bot:example.org", signing.public_key, signing.public_key)
    data["usage"] = ["master"]
    assert not verify_signature_json(data, "@bot:example.org", signing.public_key, signing.public_key)
