"""Twilio: phone calls (`type: twilio_voice`), SMS (`twilio_sms`) and WhatsApp
(`twilio_whatsapp`), sharing one account's settings and one signature check."""
