"""Who may do what: operators' commands, a group's settings, a channel's, and the token.

* ``/stats`` and ``/collect`` answer everyone but the configured operators
  (``telegram.admins``) with a polite refusal and do nothing, wherever they are sent;
* a group's settings change only by its administrators: every command and every
  button (the real ones and forged ones) pressed by a member is refused and changes
  nothing, and rights taken away are taken away at once;
* a channel's settings change only through its administrator's private chat;
* the bot's token appears in no reply, not even the operators' ``/stats``.
"""

from __future__ import annotations

import pytest

from bot.fake_api import BotMessage
from tests.botharness import OPERATOR, BotWorld, world

__all__ = ["world"]

GROUP = -1001500000002
CHANNEL = -1001600000002
ADMIN, MEMBER, STRANGER = 11, 12, 13

SETTINGS_COMMANDS = (
    "/start",
    "/topics",
    "/countries",
    "/time 05:45",
    "/time",
    "/timezone Asia/Baku",
    "/timezone",
    "/language ru",
    "/language",
    "/pause",
    "/resume",
    "/stop",
)
FORGED = (
    "tp:s:energy",
    "tp:o:it_hubs",
    "ct:s:all",
    "ct:o:kz",
    "tm:s:05:45",
    "tz:s:Asia/Baku",
    "lg:s:ru",
    "nx:o:topics",
    "st:s:yes",
    "dg:s:pause",
)


def _group(world: BotWorld) -> list[BotMessage]:
    """A group set up by its administrator; every message with buttons he was shown."""
    api = world.api
    for user in (ADMIN, MEMBER, STRANGER):
        api.add_user(user)
    api.add_group(GROUP, title="Tech Almaty", admins={ADMIN}, members={MEMBER})
    world.say(GROUP, "/start", user_id=ADMIN)
    shown = [api.next_message(GROUP)]
    for command in ("/topics", "/countries", "/time", "/timezone", "/language", "/stop"):
        shown.append(world.say(GROUP, command, user_id=ADMIN))
    return shown


@pytest.mark.parametrize("command", ["/stats", "/collect", "/stats@steppe_digest_bot"])
def test_operators_commands_refuse_everyone_else(world: BotWorld, command: str) -> None:
    _group(world)
    refusal = world.t("en", "operators_only")
    assert world.say(STRANGER, command).text == refusal  # a private chat
    assert world.say(GROUP, command, user_id=ADMIN).text == refusal  # a group's admin
    world.api.add_group(CHANNEL, title="Steppe Tech", admins={ADMIN}, kind="channel")
    assert world.say(CHANNEL, command).text == refusal  # a channel post has no sender
    assert world.collections == []
    assert world.store.chats.get(STRANGER) is None  # nothing registered either
    # The operator, in a group too, is served.
    world.api.add_user(OPERATOR)
    assert world.say(GROUP, command, user_id=OPERATOR).text != refusal


@pytest.mark.parametrize("member", [MEMBER, STRANGER])
def test_a_groups_settings_commands_refuse_its_members(world: BotWorld, member: int) -> None:
    _group(world)
    before = world.store.chats.get(GROUP)
    refusal = world.t("en", "admins_only")
    for command in SETTINGS_COMMANDS:
        for text in (command, command.replace(" ", "@steppe_digest_bot ", 1)):
            assert world.say(GROUP, text, user_id=member).text == refusal, text
    assert world.store.chats.get(GROUP) == before


def test_a_groups_buttons_refuse_its_members_real_and_forged(world: BotWorld) -> None:
    shown = _group(world)
    api = world.api
    before = world.store.chats.get(GROUP)
    refusal = world.t("en", "admins_only")
    presses = [
        (message, str(button["callback_data"]))
        for message in shown
        for row in message.buttons
        for button in row
    ]
    presses += [(shown[0], data) for data in FORGED]
    assert len(presses) > 30
    for message, data in presses:
        query = api.press(GROUP, message.message_id, data, user_id=MEMBER)
        assert api.callback_answer(query)["text"] == refusal, data
    assert world.store.chats.get(GROUP) == before
    assert api.pending_events(GROUP) == []  # no message was redrawn or sent
    # The administrator's press does change it.
    query = api.press(GROUP, shown[0].message_id, "tp:o:energy", user_id=ADMIN)
    api.callback_answer(query)
    after = world.store.chats.get(GROUP)
    assert after is not None
    assert "energy" not in after.topics


def test_an_admin_whose_rights_are_taken_changes_nothing_more(world: BotWorld) -> None:
    shown = _group(world)
    world.api.add_group(GROUP, title="Tech Almaty", admins=set(), members={ADMIN, MEMBER})
    before = world.store.chats.get(GROUP)
    assert world.say(GROUP, "/time 05:45", user_id=ADMIN).text == world.t("en", "admins_only")
    query = world.api.press(GROUP, shown[0].message_id, "tp:o:energy", user_id=ADMIN)
    assert world.api.callback_answer(query)["text"] == world.t("en", "admins_only")
    assert world.store.chats.get(GROUP) == before


def _channel(world: BotWorld) -> BotMessage:
    """A channel its administrator manages from his private chat; its set-up step."""
    api = world.api
    for user in (ADMIN, MEMBER):
        api.add_user(user)
    api.add_group(
        CHANNEL,
        title="Steppe Tech",
        admins={ADMIN},
        members={MEMBER},
        kind="channel",
        username="steppetech",
    )
    world.say(CHANNEL, "/start")  # registers the channel, explains the set-up
    world.say(ADMIN, "/channel @steppetech")
    return api.next_message(ADMIN)


def test_a_channels_buttons_in_the_channel_change_nothing(world: BotWorld) -> None:
    step = _channel(world)
    api = world.api
    posted = world.say(CHANNEL, "/find solar")  # a message of the bot in the channel
    before = world.store.chats.get(CHANNEL)
    setup = world.t("en", "channel_setup")
    for data in (*FORGED, *(str(b["callback_data"]) for row in step.buttons for b in row)):
        query = api.press(CHANNEL, posted.message_id, data, user_id=MEMBER)
        # An alert is plain text: the instructions without their <code> markup.
        assert api.callback_answer(query)["text"] == setup, data
    for command in SETTINGS_COMMANDS[1:]:  # posted in the channel itself
        assert world.say(CHANNEL, command).text == setup, command
    assert world.store.chats.get(CHANNEL) == before


def test_a_channel_changes_only_through_its_admin(world: BotWorld) -> None:
    step = _channel(world)
    api = world.api
    world.say(MEMBER, "/start")
    own = api.next_message(MEMBER)
    before = world.store.chats.get(CHANNEL)
    # Another user presses the same data in their own chat: their chat changes, not the
    # channel's; "/channel" by a non-administrator is refused.
    api.press(MEMBER, own.message_id, "tp:o:energy")
    api.next_message(MEMBER)
    member = world.store.chats.get(MEMBER)
    assert member is not None
    assert "energy" not in member.topics
    assert world.say(MEMBER, f"/channel {CHANNEL}").text.startswith("You need to be")
    assert world.say(MEMBER, "/time 05:45").text.startswith("Delivery time")
    assert world.store.chats.get(CHANNEL) == before
    # The administrator changes it, until his rights are taken away.
    world.click(step, "Energy", user_id=ADMIN)
    changed = world.store.chats.get(CHANNEL)
    assert changed is not None
    assert "energy" not in changed.topics
    api.add_group(CHANNEL, title="Steppe Tech", admins=set(), kind="channel", username="x")
    assert world.say(ADMIN, "/time 05:45").text == world.t("en", "admins_only")
    assert world.store.chats.get(CHANNEL) == changed


def test_the_token_is_in_no_reply(world: BotWorld) -> None:
    api = world.api
    api.add_user(OPERATOR)
    world.say(OPERATOR, "/start")
    api.next_message(OPERATOR)
    for command in ("/stats", "/settings", "/sources", "/help", "/digest", "/find token"):
        world.say(OPERATOR, command)
    world.say(OPERATOR, "/collect")
    api.next_message(OPERATOR)
    secret = api.token.split(":", 1)[1]
    sent = [str(params.get("text", "")) for _method, params in api.requests]
    assert len(api.messages(OPERATOR)) >= 8
    assert not [text for text in sent if secret in text or api.token in text]
