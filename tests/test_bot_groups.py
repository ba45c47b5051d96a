"""Groups and channels: commands as /cmd@bot, only administrators change settings."""

from __future__ import annotations

from bot.fake_api import Fault
from tests.botharness import BotWorld, world

__all__ = ["world"]

GROUP = -1001500000000
ADMIN, MEMBER = 11, 12
CHANNEL = -1001600000000


def _group(world: BotWorld) -> None:
    world.api.add_user(ADMIN, first_name="Admin", language_code="ru")
    world.api.add_user(MEMBER, first_name="Member")
    world.api.add_group(GROUP, title="Tech <Almaty>", admins={ADMIN}, members={MEMBER})


def test_an_admin_sets_up_a_group_with_bot_mention(world: BotWorld) -> None:
    _group(world)
    welcome = world.say(GROUP, "/start@steppe_digest_bot", user_id=ADMIN)
    assert "Tech <Almaty>" in welcome.text  # the title is escaped, not markup
    step = world.api.next_message(GROUP)
    step = world.click(step, "Энергетика", user_id=ADMIN)
    assert "✅ Энергетика" not in step.button_labels
    chat = world.store.chats.get(GROUP)
    assert chat is not None
    assert (chat.kind, chat.language) == ("supergroup", "ru")


def test_members_may_read_but_not_change(world: BotWorld) -> None:
    _group(world)
    world.say(GROUP, "/start", user_id=ADMIN)
    step = world.api.next_message(GROUP)
    before = world.store.chats.get(GROUP)

    assert world.say(GROUP, "/time 06:00", user_id=MEMBER).text == world.t("ru", "admins_only")
    query = world.api.click(step, "Политика", user_id=MEMBER)
    assert world.api.callback_answer(query)["text"] == world.t("ru", "admins_only")
    assert world.store.chats.get(GROUP) == before
    assert world.say(GROUP, "/settings", user_id=MEMBER).text.startswith("Настройки")


def test_a_member_cannot_register_a_group(world: BotWorld) -> None:
    _group(world)
    reply = world.say(GROUP, "/start", user_id=MEMBER)
    assert reply.text.endswith(world.t("en", "admins_only"))
    assert world.store.chats.get(GROUP) is None


def test_other_bots_commands_are_ignored_in_groups(world: BotWorld) -> None:
    _group(world)
    world.api.send(GROUP, "/frobnicate@other_bot", user_id=MEMBER)
    world.api.send(GROUP, "/frobnicate", user_id=MEMBER)
    unknown = world.say(GROUP, "/frobnicate@steppe_digest_bot", user_id=MEMBER)
    assert unknown.text.startswith("I don't know that command")
    assert world.api.pending_events(GROUP) == []


def test_removed_from_a_group_the_chat_becomes_inactive(world: BotWorld) -> None:
    _group(world)
    world.say(GROUP, "/start", user_id=ADMIN)
    world.api.remove_bot(GROUP, by=ADMIN)
    world.api.wait_for(lambda: not _active(world, GROUP))
    assert world.store.chats.get(GROUP) is not None


def test_a_send_refused_with_403_marks_the_chat_inactive(world: BotWorld) -> None:
    _group(world)
    world.say(GROUP, "/start", user_id=ADMIN)
    world.api.next_message(GROUP)
    world.api.fail(
        Fault("sendMessage", error_code=403, description="Forbidden: bot was kicked", chat_id=GROUP)
    )
    world.api.send(GROUP, "/settings", user_id=ADMIN)
    world.api.wait_for(lambda: not _active(world, GROUP))


def test_a_channel_is_set_up_through_an_admins_private_chat(world: BotWorld) -> None:
    world.api.add_user(ADMIN)
    world.api.add_group(
        CHANNEL, title="Steppe Tech", admins={ADMIN}, kind="channel", username="steppetech"
    )
    assert world.say(CHANNEL, "/start").text.startswith("Channels are set up by an administrator")
    world.say(ADMIN, "/start")
    world.api.next_message(ADMIN)
    managing = world.say(ADMIN, "/channel @steppetech")
    assert managing.text.startswith("Now set up Steppe Tech")
    step = world.api.next_message(ADMIN)
    world.click(step, "Society")
    world.say(ADMIN, "/time 10:15")
    channel = world.store.chats.get(CHANNEL)
    own = world.store.chats.get(ADMIN)
    assert channel is not None
    assert own is not None
    assert (channel.kind, channel.topics) == ("channel", ("it_hubs", "energy", "policy"))
    assert (channel.delivery_time.hour, own.delivery_time.hour) == (10, 8)
    assert world.say(ADMIN, "/channel off").text == "Back to your own settings."


def test_a_non_admin_cannot_take_over_a_channel(world: BotWorld) -> None:
    world.api.add_user(MEMBER)
    world.api.add_group(CHANNEL, title="Steppe Tech", admins={ADMIN}, kind="channel")
    reply = world.say(MEMBER, f"/channel {CHANNEL}")
    assert reply.text.startswith("You need to be an administrator")
    assert world.store.chats.get(CHANNEL) is None


def _active(world: BotWorld, chat_id: int) -> bool:
    chat = world.store.chats.get(chat_id)
    return chat is not None and chat.active


def test_a_group_that_becomes_a_supergroup_keeps_its_settings(world: BotWorld) -> None:
    # Telegram gives the supergroup a new chat id; the settings must follow it.
    old, new = -4500000, -1004500000
    world.api.add_user(ADMIN, first_name="Admin", language_code="ru")
    world.api.add_user(MEMBER, first_name="Member")
    world.api.add_group(old, title="Tech", admins={ADMIN}, members={MEMBER}, kind="group")
    world.say(old, "/start", user_id=ADMIN)
    world.api.next_message(old)  # the first set-up step
    world.say(old, "/time 06:30", user_id=ADMIN)
    before = world.store.chats.get(old)
    assert before is not None

    world.api.upgrade_group(old, new, by=ADMIN)
    world.api.wait_for(lambda: world.store.chats.get(old) is None)
    after = world.store.chats.get(new)
    assert after is not None
    assert after.kind == "supergroup"
    assert (after.language, after.delivery_time, after.topics, after.countries) == (
        before.language,
        before.delivery_time,
        before.topics,
        before.countries,
    )
    assert "06:30" in world.say(new, "/settings", user_id=MEMBER).text
